import ArgumentParser
import UVTunnel

/// Request/response: each session sends a small message to the echo target and
/// sends the next as soon as the whole answer is back (closed loop), so the
/// round trip is the tunnel's latency at that concurrency.
struct RoundTrip: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rr", abstract: "Ping-pong round trips at N concurrent sessions: p50/p99/p99.9.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Concurrent sessions.") var sessions = 1
    @Option(help: "Message size in bytes.") var size = 64

    func run() throws {
        let loop = try EventLoop()
        let run = RoundTripRun(loop: loop, options: self, address: try common.address)
        run.start()
        loop.run()
        emit(run.result())
    }
}

private final class RoundTripRun {
    private let loop: EventLoop
    private let options: RoundTrip
    private let opener: Opener
    private let phases: Phases
    private var guardTimer: UVTimer?
    private var running = true
    private var latency = Latency()
    private var completed = false
    private var openSeconds = 0.0

    init(loop: EventLoop, options: RoundTrip, address: SocketAddress) {
        self.loop = loop
        self.options = options
        opener = Opener(loop: loop, address: address, mode: .echo, count: options.sessions, concurrency: options.common.openConcurrency)
        phases = Phases(loop: loop)
    }

    func start() {
        let size = UInt64(options.size)
        opener.configure = { [self] session in
            session.onData = { [self] session, buffer in
                session.bytes += UInt64(buffer.count)
                session.pool.give(buffer)
                guard session.bytes >= size else { return }
                session.bytes -= size
                if phases.isMeasuring { latency.record(nanos: nowNanos() - session.sentAt) }
                ping(session)
            }
        }
        let openStarted = nowNanos()
        opener.onDone = { [self] in
            guard !opener.open.isEmpty else { return finish() }  // nothing to measure: incomplete
            openSeconds = Double(nowNanos() - openStarted) / 1e9
            // Every session starts only once all are open, so the window sees the full concurrency.
            for session in opener.open { ping(session) }
            phases.start(warmup: options.common.warmup, seconds: options.common.seconds, begin: {}, end: { [self] in
                completed = true
                finish()
            })
        }
        guardTimer = deadline(loop: loop, seconds: 120 + options.common.warmup + options.common.seconds) { [self] in finish() }
        opener.start()
    }

    private func ping(_ session: Session) {
        guard running, !session.isClosed else { return }
        session.sentAt = nowNanos()
        session.send(session.pool.payload(options.size))
    }

    private func finish() {
        running = false
        phases.close()
        guardTimer?.close()
        opener.closeAll()
    }

    func result() -> [String: Any] {
        var result: [String: Any] = [
            "scenario": "rr", "sessions": options.sessions, "size": options.size, "complete": completed,
            "opened": opener.open.count, "errors": opener.errors, "seconds": phases.elapsedSeconds,
            "open_seconds": openSeconds,
            "round_trips_per_s": completed ? Double(latency.count) / phases.elapsedSeconds : 0,
        ]
        result.merge(latency.summary("rtt")) { a, _ in a }
        if let error = opener.firstError { result["first_error"] = error }
        return result
    }
}
