import Foundation
import Logging

/// The sign-in thread: its own libuv loop runs the browser flow (login call,
/// local callback listener, browser start) and the cache file writes, so the
/// tunnel loop never blocks on them. Commands go in through one inbox, results
/// come back to the tunnel loop through another.
public final class SignInWorker: @unchecked Sendable {
    enum Command: Sendable {
        /// `replacing`: the token that was rejected or expired; a cached copy of it is no answer.
        case start(id: Int, SignInSettings, replacing: String?)
        case cancel(id: Int)
        case deleteCached(TokenCache, key: String, token: String)
        case stop
    }

    public enum Event: Sendable {
        case finished(id: Int, Result<String, SignInFailure>)
    }

    private let events: AsyncInbox<Event>
    private let commands: AsyncInbox<Command>
    private let stopped = DispatchSemaphore(value: 0)
    private var isStopped = false
    /// Tunnel loop only (`newFlightID`).
    private var lastFlightID = 0

    /// Starts the thread; `onEvent` runs on `loop` (the tunnel loop).
    public init(loop: EventLoop, logger: Logger, onEvent: @escaping (Event) -> Void) throws {
        events = try AsyncInbox(loop: loop, receive: onEvent)
        events.unref()  // a waiting tunnel's timer keeps the loop alive, not this
        let ready = DispatchSemaphore(value: 0)
        let box = InboxBox()
        let events = self.events
        let stopped = self.stopped
        let thread = Thread {
            do {
                let workerLoop = try EventLoop()
                let state = WorkerState(loop: workerLoop, logger: logger, events: events)
                let inbox = try AsyncInbox<Command>(loop: workerLoop) { command in state.handle(command) }
                state.inbox = inbox
                box.set(.success(inbox))
                ready.signal()
                workerLoop.run()
                workerLoop.close()
            } catch {
                box.set(.failure(SignInFailure("cannot start the sign-in thread: \(error)")))
                ready.signal()
            }
            TLSThreadState.release()
            stopped.signal()
        }
        thread.name = "uvtunnel-sign-in"
        thread.start()
        ready.wait()
        switch box.get() {
        case .success(let inbox): commands = inbox
        case .failure(let error):
            events.close()
            throw error
        }
    }

    func send(_ command: Command) { commands.post(command) }

    /// Tunnel loop: unique across every coordinator this thread serves.
    func newFlightID() -> Int {
        lastFlightID += 1
        return lastFlightID
    }

    /// Tunnel loop: ends the thread (an unfinished sign-in is dropped, a browser
    /// opener still running is left running) and waits for it, which is quick:
    /// the thread waits on no child and no network answer once told to stop.
    public func stop() {
        guard !isStopped else { return }
        isStopped = true
        events.close()
        commands.post(.stop)
        stopped.wait()
    }
}

/// Hands the worker loop's inbox from the new thread to the constructor.
private final class InboxBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<AsyncInbox<SignInWorker.Command>, SignInFailure>?
    func set(_ v: Result<AsyncInbox<SignInWorker.Command>, SignInFailure>) { lock.withLock { value = v } }
    func get() -> Result<AsyncInbox<SignInWorker.Command>, SignInFailure> { lock.withLock { value! } }
}

/// Lives on the sign-in thread only.
private final class WorkerState {
    let loop: EventLoop
    let logger: Logger
    let events: AsyncInbox<SignInWorker.Event>
    var inbox: AsyncInbox<SignInWorker.Command>?
    var flows: [Int: SignInFlow] = [:]
    /// Flows that reported but whose callback connections are still answering
    /// (each bounded by its own 10 s timer); kept so that stop can close them.
    var finishing: [SignInFlow] = []
    let browsers = BrowserProcesses()

    init(loop: EventLoop, logger: Logger, events: AsyncInbox<SignInWorker.Event>) {
        self.loop = loop
        self.logger = logger
        self.events = events
    }

    func handle(_ command: SignInWorker.Command) {
        finishing.removeAll { !$0.hasOpenCallbacks }
        switch command {
        case .start(let id, let settings, let stale):
            let flow = SignInFlow(loop: loop, settings: settings, replacing: stale, logger: logger,
                                  browsers: browsers) { [weak self] result in
                if let flow = self?.flows.removeValue(forKey: id) { self?.finishing.append(flow) }
                self?.events.post(.finished(id: id, result))
            }
            flows[id] = flow
            flow.start()
        case .cancel(let id):
            flows.removeValue(forKey: id)?.cancel()
        case .deleteCached(let cache, let key, let token):
            do { try cache.delete(key: key, ifStill: token) } catch { logger.warning("cannot delete the rejected token from the cache: \(error)") }
        case .stop:
            // Nothing here may hold the thread's loop open: a browser still
            // running is let go, the login call and the callback listener close.
            for flow in Array(flows.values) + finishing { flow.cancel() }
            flows = [:]
            finishing = []
            if browsers.count > 0 { logger.debug("leaving \(browsers.count) browser process(es) running") }
            browsers.detachAll()
            inbox?.close()
            inbox = nil
        }
    }
}
