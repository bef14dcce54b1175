import ArgumentParser
import Foundation
import UVTunnel

/// Many idle tunnels held open: the client process's memory per tunnel, and
/// the echo round trip across them while they are held. The pings walk the
/// tunnels round-robin at a fixed total rate, so the figure is the latency of
/// a mostly idle fleet, not of a synchronized burst (9,500 tunnels pinging
/// once a second each would be a load test of its own on two cores).
struct Hold: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "RSS per idle tunnel, and echo p99 across the held tunnels.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Tunnels to hold.") var tunnels = 1000
    @Option(help: "Seconds to wait after opening before reading memory.") var settle = 1.0
    @Option(help: "Pings per second in all, spread round-robin over the held tunnels.") var pingsPerSecond = 1000.0

    func run() throws {
        let loop = try EventLoop()
        let run = HoldRun(loop: loop, options: self, address: try common.address)
        run.start()
        loop.run()
        emit(run.result())
    }
}

private final class HoldRun {
    private let loop: EventLoop
    private let options: Hold
    private let opener: Opener
    private let phases: Phases
    private let ticker: UVTimer
    private var guardTimer: UVTimer?
    private var running = true
    private var latency = Latency()
    private var cursor = 0
    private var credit = 0.0
    private var completed = false
    private var openSeconds = 0.0
    private var before: (rssKiB: Int, pssKiB: Int, processes: Int)?
    private var idle: (rssKiB: Int, pssKiB: Int, processes: Int)?
    private var afterPings: (rssKiB: Int, pssKiB: Int, processes: Int)?
    private static let pingSize = 16

    init(loop: EventLoop, options: Hold, address: SocketAddress) {
        self.loop = loop
        self.options = options
        opener = Opener(loop: loop, address: address, mode: .echo, count: options.tunnels, concurrency: options.common.openConcurrency)
        phases = Phases(loop: loop)
        ticker = UVTimer(loop: loop)
    }

    func start() {
        before = options.common.pid.map { ProcStats.memory(tree: $0) }
        opener.configure = { [self] session in
            session.onData = { [self] session, buffer in
                session.bytes += UInt64(buffer.count)
                session.pool.give(buffer)
                guard session.bytes >= UInt64(Self.pingSize) else { return }
                session.bytes -= UInt64(Self.pingSize)
                session.inFlight = 0
                if phases.isMeasuring { latency.record(nanos: nowNanos() - session.sentAt) }
            }
        }
        let openStarted = nowNanos()
        opener.onDone = { [self] in
            guard !opener.open.isEmpty else { return finish() }  // nothing to measure: incomplete
            openSeconds = Double(nowNanos() - openStarted) / 1e9
            let settle = UVTimer(loop: loop)
            settle.start(milliseconds: milliseconds(options.settle)) { [self] in
                settle.close()
                idle = options.common.pid.map { ProcStats.memory(tree: $0) }
                startPings()
            }
        }
        guardTimer = deadline(loop: loop, seconds: 300 + options.settle + options.common.warmup + options.common.seconds) { [self] in finish() }
        opener.start()
    }

    /// A 1 ms ticker walks the tunnels round-robin, so the pings are spread evenly.
    private func startPings() {
        let perTick = options.pingsPerSecond / 1000
        ticker.start(milliseconds: 1, repeat: 1) { [self] in
            credit += perTick
            while credit >= 1 && running && !opener.open.isEmpty {
                credit -= 1
                cursor = (cursor + 1) % opener.open.count
                let session = opener.open[cursor]
                // One ping in flight per tunnel; a slow one is skipped, and shows in the tail.
                guard !session.isClosed, session.inFlight == 0 else { continue }
                session.inFlight = 1
                session.sentAt = nowNanos()
                session.send(session.pool.payload(Self.pingSize))
            }
        }
        phases.start(warmup: options.common.warmup, seconds: options.common.seconds, begin: {}, end: { [self] in
            afterPings = options.common.pid.map { ProcStats.memory(tree: $0) }
            completed = true
            finish()
        })
    }

    private func finish() {
        running = false
        ticker.close()
        phases.close()
        guardTimer?.close()
        opener.closeAll()
    }

    func result() -> [String: Any] {
        let held = opener.open.count
        var result: [String: Any] = [
            "scenario": "hold", "tunnels": options.tunnels, "held": held, "complete": completed,
            "errors": opener.errors, "open_seconds": openSeconds, "seconds": phases.elapsedSeconds,
        ]
        if let before, let idle, held > 0 {
            result["rss_before_kib"] = before.rssKiB
            result["rss_idle_kib"] = idle.rssKiB
            result["processes"] = idle.processes
            result["rss_per_tunnel_kib"] = Double(idle.rssKiB - before.rssKiB) / Double(held)
            result["pss_per_tunnel_kib"] = Double(idle.pssKiB - before.pssKiB) / Double(held)
        }
        if let before, let afterPings, held > 0 {
            result["rss_after_pings_kib"] = afterPings.rssKiB
            result["rss_per_tunnel_after_pings_kib"] = Double(afterPings.rssKiB - before.rssKiB) / Double(held)
        }
        result.merge(latency.summary("echo")) { a, _ in a }
        if let error = opener.firstError { result["first_error"] = error }
        return result
    }
}
