/// One shared connection of `HTTP2Connector`: its session, the idle timer
/// that closes it when no stream has used it for a while, and the liveness
/// check: a connection silent for a whole `pingInterval` gets a PING, and
/// one still silent an interval later is declared dead (its tunnels fail,
/// new ones go to a fresh connection).
final class HTTP2Connection {
    let id: Int
    let session: HTTP2Session
    private let idleTimer: UVTimer
    private let idleMilliseconds: UInt64
    private let pingTimer: UVTimer
    private let pingMilliseconds: UInt64
    private var pingOutstanding = false
    var onClosed: ((String?) -> Void)?
    var onReady: (() -> Void)?

    init(id: Int, transport: ByteStream, loop: EventLoop, settings: HTTP2Settings, idleMilliseconds: UInt64) throws(HTTP2Failure) {
        self.id = id
        self.idleMilliseconds = idleMilliseconds
        pingMilliseconds = settings.pingIntervalMilliseconds
        session = try HTTP2Session(transport: transport, loop: loop, settings: settings, connectionID: id)
        idleTimer = UVTimer(loop: loop)
        pingTimer = UVTimer(loop: loop)
        session.onStreamsChanged = { [weak self] in self?.streamsChanged() }
        session.onReady = { [weak self] in self?.onReady?() }
        session.onClosed = { [weak self] reason in
            guard let self else { return }
            self.idleTimer.close()
            self.pingTimer.close()
            let done = self.onClosed
            self.onClosed = nil
            done?(reason)
        }
    }

    /// Dropped without `close()`: its timers and session still close (the
    /// ping timer would otherwise repeat for ever).
    deinit {
        idleTimer.close()
        pingTimer.close()
        session.close()
    }

    /// Starts the session and the liveness check, once `onClosed` and
    /// `onReady` are set (the session may close inside this).
    func start() {
        pingTimer.start(milliseconds: pingMilliseconds, repeat: pingMilliseconds) { [weak self] in self?.checkLiveness() }
        session.start()
    }

    /// Starts the idle timer if no stream was opened on it.
    func closeWhenUnused() {
        streamsChanged()
    }

    private func streamsChanged() {
        guard session.openStreamCount == 0 else { return idleTimer.stop() }
        // Going away (it can open no stream): nothing left to wait for.
        if session.isGoingAway { return close() }
        idleTimer.start(milliseconds: idleMilliseconds) { [weak self] in self?.close() }
    }

    private func checkLiveness() {
        if session.takeReceivedSomething() {
            pingOutstanding = false
        } else if pingOutstanding {
            let seconds = Double(2 * pingMilliseconds) / 1000
            session.abandon("the gateway sent nothing for \(seconds.formatted1)s, not even an answer to PING")
        } else {
            pingOutstanding = true
            session.ping()
        }
    }

    func close() {
        session.close()
    }
}

