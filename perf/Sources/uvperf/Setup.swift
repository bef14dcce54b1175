import ArgumentParser
import UVTunnel

/// Tunnel setup rate: each opener connects, sends the mode byte and one more,
/// waits for the ack and the echoed byte (accept → TLS → CONNECT → 200 →
/// target → back), closes, and starts over. Tunnels per second is the count
/// completed within the window.
struct Setup: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "New tunnels per second with N openers at a time.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Connections being opened at a time.") var openers = 1

    func run() throws {
        let loop = try EventLoop()
        let run = SetupRun(loop: loop, options: self, address: try common.address)
        run.start()
        loop.run()
        emit(run.result())
    }
}

private final class SetupRun {
    private let loop: EventLoop
    private let options: Setup
    private let address: SocketAddress
    private let phases: Phases
    private var guardTimer: UVTimer?
    private var running = true
    private var live: [Int: Session] = [:]
    private var nextIndex = 0
    private var latency = Latency()
    private var done = 0
    private var errors = 0
    private var firstError: String?
    private var completed = false

    init(loop: EventLoop, options: Setup, address: SocketAddress) {
        self.loop = loop
        self.options = options
        self.address = address
        phases = Phases(loop: loop)
    }

    func start() {
        for _ in 0..<options.openers { openOne() }
        phases.start(warmup: options.common.warmup, seconds: options.common.seconds, begin: {}, end: { [self] in
            completed = true
            finish()
        })
        guardTimer = deadline(loop: loop, seconds: 60 + options.common.warmup + options.common.seconds) { [self] in finish() }
    }

    private func openOne() {
        guard running else { return }
        nextIndex += 1
        let session: Session
        do {
            session = try Session(loop: loop, index: nextIndex)
        } catch {
            return failed(error.description)
        }
        live[session.index] = session
        session.sentAt = nowNanos()
        session.onData = { [self] session, buffer in
            session.pool.give(buffer)
            // The echoed byte (the ack was the open).
            if phases.isMeasuring {
                latency.record(nanos: nowNanos() - session.sentAt)
                done += 1
            }
            live[session.index] = nil
            session.close()
            openOne()
        }
        session.onEnd = { [self] session, reason in
            live[session.index] = nil
            failed(reason)
        }
        session.open(address, mode: .echo, firstBytes: [0x78])
    }

    private func failed(_ reason: String) {
        if phases.isMeasuring { errors += 1 }
        if firstError == nil { firstError = reason }
        // Do not spin on a refusing port: try again after 10 ms.
        let retry = UVTimer(loop: loop)
        retry.start(milliseconds: 10) { [self] in
            retry.close()
            openOne()
        }
    }

    private func finish() {
        running = false
        phases.close()
        guardTimer?.close()
        for session in live.values { session.close() }
        live = [:]
    }

    func result() -> [String: Any] {
        let seconds = phases.elapsedSeconds
        var result: [String: Any] = [
            "scenario": "setup", "openers": options.openers, "complete": completed && done > 0, "errors": errors,
            "seconds": seconds, "tunnels": done,
            "tunnels_per_s": completed ? Double(done) / seconds : 0,
        ]
        result.merge(latency.summary("setup")) { a, _ in a }
        if let firstError { result["first_error"] = firstError }
        return result
    }
}
