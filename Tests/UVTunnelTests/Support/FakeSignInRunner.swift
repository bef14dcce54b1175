import XCTest
@testable import UVTunnel

/// Stands in for the sign-in thread: records what the coordinator asks of it;
/// the test plays the thread's part by calling `SignInCoordinator.handle`.
final class FakeSignInRunner: SignInRunner {
    enum Sent: Equatable {
        case start(id: Int, replacing: String?)
        case cancel(id: Int)
        case deleteCached(token: String)
    }

    private(set) var sent: [Sent] = []
    private var lastFlightID = 0

    func newFlightID() -> Int {
        lastFlightID += 1
        return lastFlightID
    }

    func send(_ command: SignInWorker.Command) {
        switch command {
        case .start(let id, _, let replacing): sent.append(.start(id: id, replacing: replacing))
        case .cancel(let id): sent.append(.cancel(id: id))
        case .deleteCached(_, _, let token): sent.append(.deleteCached(token: token))
        case .stop: XCTFail("the coordinator never stops the thread: its owner does")
        }
    }
}
