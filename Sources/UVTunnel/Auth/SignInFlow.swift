import Foundation
import Logging

/// One browser sign-in, on the sign-in thread's loop (SPEC "Sign-in" 2-3):
/// listen on 127.0.0.1:0, ask the gateway's login endpoint for the sign-in
/// URL, print it and open the browser, wait for the redirect that carries the
/// token, store it in the cache, report once.
///
/// Other processes may need the same sign-in at the same moment (`--workers`,
/// a load test of many `uvtunnel exec`): only the holder of the `SignInLock`
/// opens a browser, and every flow watches the cache, so a token any of them
/// (or pomerium-cli) stores ends them all.
final class SignInFlow {
    private let loop: EventLoop
    private let settings: SignInSettings
    private let stale: String?
    private let logger: Logger
    private let browsers: BrowserProcesses
    private var lock: SignInLock?
    private var cacheWatch: UVTimer?
    private var browserSignInStarted = false
    /// How often the cache is looked at while a sign-in runs (a stat and a small read).
    static let cachePollMilliseconds: UInt64 = 250
    private var report: ((Result<String, SignInFailure>) -> Void)?
    private var listener: TCPListener?
    /// The login call while it runs; cancelled when the flow is.
    private var loginFetch: HTTPFetch?
    private var callbacks: [ObjectIdentifier: CallbackConnection] = [:]
    /// Port scans and stray requests are answered, but only this many at once.
    private let maxCallbackConnections = 16

    init(loop: EventLoop, settings: SignInSettings, replacing stale: String?, logger: Logger,
         browsers: BrowserProcesses = BrowserProcesses(), report: @escaping (Result<String, SignInFailure>) -> Void) {
        self.loop = loop
        self.browsers = browsers
        self.settings = settings
        self.stale = stale
        self.logger = logger
        self.report = report
    }

    func start() {
        guard let cache = settings.cache else { return startBrowserSignIn() }
        if adoptTokenFromCache() { return }
        let watch = UVTimer(loop: loop)
        cacheWatch = watch
        watch.start(milliseconds: Self.cachePollMilliseconds, repeat: Self.cachePollMilliseconds) { [weak self] in
            guard let self, !self.adoptTokenFromCache(), !self.browserSignInStarted else { return }
            self.tryToLead(cache, quietly: true)
        }
        tryToLead(cache, quietly: false)
    }

    /// Signs in if no other process is; otherwise leaves it to that one.
    private func tryToLead(_ cache: TokenCache, quietly: Bool) {
        switch SignInLock.tryAcquire(cache: cache, key: settings.cacheKey) {
        case .acquired(let lock):
            self.lock = lock
            startBrowserSignIn()
        case .heldElsewhere:
            if !quietly {
                logger.info("auth required: another uvtunnel process is signing in to \(settings.route.gatewayAuthority); waiting for the token it stores")
            }
        case .unavailable(let why):
            logger.debug("sign-in lock unavailable (\(why)); signing in without it")
            startBrowserSignIn()
        }
    }

    /// A fresh token another process stored (a sign-in it finished) ends this one.
    private func adoptTokenFromCache() -> Bool {
        guard report != nil, let cache = settings.cache,
              let token = cache.freshToken(key: settings.cacheKey, other: stale) else { return false }
        logger.info("signed in to \(settings.route.gatewayAuthority) (token stored by another process)")
        finish(.success(token))
        return true
    }

    private func startBrowserSignIn() {
        browserSignInStarted = true
        let listener: TCPListener
        do {
            listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0), backlog: 64)
        } catch {
            return finish(.failure(SignInFailure("sign-in: cannot listen for the browser's callback on 127.0.0.1: \(error)")))
        }
        self.listener = listener
        listener.start { [weak self] client in self?.accepted(client) }
        let loginURL = LoginURL.make(route: settings.route, callbackPort: listener.address.port)
        logger.info("auth required: signing in to \(settings.route.gatewayAuthority)")
        loginFetch = HTTPFetch.get(loginURL, loop: loop, tls: settings.tls, verifyHostName: settings.verifyHostName,
                                   userAgent: settings.userAgent, egressProxy: settings.egressProxy,
                                   timeoutMilliseconds: settings.loginTimeoutMilliseconds) { [weak self] result in
            self?.loginFetch = nil
            self?.loginAnswered(result)
        }
    }

    private func loginAnswered(_ result: Result<HTTPFetch.Response, HTTPFetch.Failure>) {
        guard report != nil else { return }
        let response: HTTPFetch.Response
        switch result {
        case .failure(let failure):
            return finish(.failure(SignInFailure("sign-in: the gateway's login endpoint failed: \(failure.message)")))
        case .success(let answer):
            response = answer
        }
        guard response.head.status == 200 else {
            return finish(.failure(SignInFailure("sign-in: the gateway's login endpoint answered \(response.head.status) \(PrintableText.quoted(response.head.reason))")))
        }
        let text = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let signInURL = try? HTTPURL.parse(text) else {
            return finish(.failure(SignInFailure("sign-in: the gateway's login endpoint did not answer with a URL (got \(PrintableText.quoted(Array(text.utf8.prefix(60)))))")))
        }
        present(signInURL.description)
    }

    /// Always prints the URL (a headless user pastes it); opens it unless --no-browser.
    private func present(_ url: String) {
        guard settings.openBrowser else {
            FileHandle.standardError.write(Data("Open this URL in a browser to sign in:\n\n    \(url)\n\n".utf8))
            return
        }
        FileHandle.standardError.write(Data("Your browser has been opened to visit:\n\n    \(url)\n\n".utf8))
        let command = (settings.browserCommand ?? ["xdg-open"]) + [url]
        do {
            try browsers.open(command, loop: loop) { [logger] status in
                if status != 0 { logger.warning("\(command[0]) exited with status \(status); open the URL above yourself") }
            }
        } catch {
            logger.warning("could not start \(command[0]) (\(error.reason)); open the URL above yourself, or set \(settings.spelling.name("browser-cmd"))")
        }
    }

    private func accepted(_ client: UVStream) {
        guard report != nil, callbacks.count < maxCallbackConnections else { return client.close() }
        let connection = CallbackConnection(loop: loop, stream: client,
                                            onToken: { [weak self] token in self?.tokenArrived(token) },
                                            onClosed: { [weak self] connection in self?.callbacks[ObjectIdentifier(connection)] = nil })
        callbacks[ObjectIdentifier(connection)] = connection
        connection.start()
    }

    private func tokenArrived(_ token: String) {
        guard report != nil else { return }
        if let cache = settings.cache {
            do {
                try cache.store(token, key: settings.cacheKey)
            } catch {
                logger.warning("signed in, but cannot store the token: \(error)")
            }
        }
        logger.info("signed in to \(settings.route.gatewayAuthority)")
        finish(.success(token))
    }

    /// Callback connections still finishing their answers after the sign-in ended.
    var hasOpenCallbacks: Bool { !callbacks.isEmpty }

    /// Drops the sign-in at once: the login call, the callback listener and
    /// its connections close now (the browser opener is the caller's to let go).
    func cancel() {
        report = nil
        stopWatching()
        closeAll()
    }

    private func finish(_ result: Result<String, SignInFailure>) {
        guard let done = report else { return }
        report = nil
        stopWatching()
        loginFetch?.cancel()  // a token from the cache can come before the login call answers
        loginFetch = nil
        listener?.close()
        listener = nil
        // Callback connections finish their answers on their own.
        done(result)
    }

    /// Drops the lock (after the token is stored, so waiters find it) and the cache watch.
    private func stopWatching() {
        cacheWatch?.close()
        cacheWatch = nil
        lock?.release()
        lock = nil
    }

    private func closeAll() {
        loginFetch?.cancel()
        loginFetch = nil
        listener?.close()
        listener = nil
        for connection in callbacks.values { connection.close() }
        callbacks = [:]
    }
}
