import Foundation
import Logging

/// The tunnel loop's side of sign-in for one gateway (SPEC "Sign-in" 4-5):
/// holds the current token, runs at most one sign-in at a time on the
/// sign-in thread, and hands its result to every tunnel that waited for it.
public final class SignInCoordinator: TokenSource {
    private let loop: EventLoop
    private let settings: SignInSettings
    private let worker: SignInRunner
    private let logger: Logger
    private let authTimeoutMilliseconds: UInt64
    private let timer: UVTimer
    private var current: String?
    private var currentExpiry: Date?
    private var waiters: [(Result<String, SignInFailure>) -> Void] = []
    private var flight: Int?
    /// Sign-ins started so far (tests and metrics).
    public private(set) var signInsStarted = 0

    /// `cachedToken` is what the cache held at start (read before the loop ran).
    public convenience init(loop: EventLoop, settings: SignInSettings, worker: SignInWorker, cachedToken: String?,
                            authTimeoutMilliseconds: UInt64, logger: Logger) {
        self.init(loop: loop, settings: settings, runner: worker, cachedToken: cachedToken,
                  authTimeoutMilliseconds: authTimeoutMilliseconds, logger: logger)
    }

    init(loop: EventLoop, settings: SignInSettings, runner worker: SignInRunner, cachedToken: String?,
         authTimeoutMilliseconds: UInt64, logger: Logger) {
        self.loop = loop
        self.settings = settings
        self.worker = worker
        self.authTimeoutMilliseconds = authTimeoutMilliseconds
        self.logger = logger
        timer = UVTimer(loop: loop)
        if let cachedToken { adopt(cachedToken) }
        logger.debug("\(cachedToken == nil ? "no cached token" : "a cached token") for \(settings.route.gatewayAuthority)")
    }

    /// Feeds the worker's results in; the owner routes `SignInWorker.Event`s here.
    public func handle(_ event: SignInWorker.Event) {
        guard case .finished(let id, let result) = event, id == flight else { return }
        flight = nil
        timer.stop()
        if case .success(let token) = result { adopt(token) }
        if case .failure(let failure) = result { logger.error("\(failure.message)") }
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter(result) }
    }

    public func token(waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability {
        if flight != nil {
            waiters.append(waiter)
            return .later
        }
        if let current {
            if let expiry = currentExpiry, expiry <= Date() {
                // A stale token is not sent: sign in at once (SPEC "Better").
                logger.info("the token for \(settings.route.gatewayAuthority) has expired; signing in")
                self.current = nil
                return waitForSignIn(waiter, replacing: current)
            }
            return .now(current)
        }
        return .now(nil)
    }

    public func rejected(_ token: String?, waiter: @escaping (Result<String, SignInFailure>) -> Void) -> TokenAvailability {
        if let token, token == current {
            current = nil
            currentExpiry = nil
            if let cache = settings.cache { worker.send(.deleteCached(cache, key: settings.cacheKey, token: token)) }
        }
        // Another tunnel's sign-in may already have produced a newer token.
        if flight == nil, let current { return .now(current) }
        return waitForSignIn(waiter, replacing: token)
    }

    private func waitForSignIn(_ waiter: @escaping (Result<String, SignInFailure>) -> Void, replacing stale: String?) -> TokenAvailability {
        waiters.append(waiter)
        guard flight == nil else { return .later }
        let id = worker.newFlightID()
        flight = id
        signInsStarted += 1
        worker.send(.start(id: id, settings, replacing: stale))
        timer.start(milliseconds: authTimeoutMilliseconds) { [weak self] in self?.timedOut(id) }
        return .later
    }

    private func timedOut(_ id: Int) {
        guard flight == id else { return }
        worker.send(.cancel(id: id))
        let seconds = Double(authTimeoutMilliseconds) / 1000
        handle(.finished(id: id, .failure(SignInFailure("sign-in to \(settings.route.gatewayAuthority) did not finish within \(seconds.formatted1)s", hint: .authTimeout))))
    }

    private func adopt(_ token: String) {
        current = token
        currentExpiry = JWT.unverifiedClaims(token)?.exp.map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// Loop thread, at shutdown: fails whoever still waits.
    public func close() {
        if let id = flight {
            worker.send(.cancel(id: id))
            handle(.finished(id: id, .failure(SignInFailure("shutting down before sign-in finished"))))
        }
        timer.close()
    }
}
