import XCTest
@testable import UVTunnel

/// A `GatewayConnector` the test drives: every `open` is recorded as an
/// attempt, and the test decides when and how each one ends.
final class FakeConnector: GatewayConnector {
    let gatewayName = "https://gw.corp:443"
    private(set) var attempts: [FakeConnectAttempt] = []

    func open(destination: String, token: String?,
              completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        let attempt = FakeConnectAttempt(destination: destination, token: token, completion: completion)
        attempts.append(attempt)
        return attempt
    }
}

final class FakeConnectAttempt: ConnectAttempt {
    let destination: String
    let token: String?
    var stage: ConnectStage = .resolving
    private(set) var isCancelled = false
    private var completion: ((Result<ByteStream, TunnelFailure>) -> Void)?

    init(destination: String, token: String?, completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) {
        self.destination = destination
        self.token = token
        self.completion = completion
    }

    /// The connector's promise: a stream, once, and never after `cancel`.
    func succeed(_ stream: ByteStream, file: StaticString = #filePath, line: UInt = #line) {
        guard let done = completion else { return XCTFail("attempt already ended or cancelled", file: file, line: line) }
        completion = nil
        stage = .finished
        done(.success(stream))
    }

    func fail(_ failure: TunnelFailure, file: StaticString = #filePath, line: UInt = #line) {
        guard let done = completion else { return XCTFail("attempt already ended or cancelled", file: file, line: line) }
        completion = nil
        stage = .finished
        done(.failure(failure))
    }

    func cancel() {
        isCancelled = true
        completion = nil
    }
}

/// A `TokenSource` the test scripts: what `token` and `rejected` answer, and
/// when waiters hear back.
final class FakeTokenSource: TokenSource {
    var answerToken: TokenAvailability = .now(nil)
    var answerRejected: TokenAvailability = .later
    private(set) var waiters: [(Result<String, SignInFailure>) -> Void] = []
    private(set) var rejectedTokens: [String?] = []

    func token(waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability {
        if answerToken == .later { waiters.append(waiter) }
        return answerToken
    }

    func rejected(_ token: String?, waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability {
        rejectedTokens.append(token)
        if answerRejected == .later { waiters.append(waiter) }
        return answerRejected
    }

    /// The sign-in ended: every waiter hears it once.
    func finish(_ result: Result<String, SignInFailure>) {
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter(result) }
    }
}
