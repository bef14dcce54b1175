import ArgumentParser
import UVTunnel

/// Throughput of long transfers: `streams` connections push (up: client →
/// target sink) or pull (down: target source → client) as fast as they can for
/// a fixed time. Up counts what the sink received, asked over a direct control
/// connection to the target, so neither buffering inside the tunnel nor a lag
/// on its reverse path changes the figure.
struct Bulk: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Gbit/s over N streams, and the tunnel client's CPU seconds per GB.")

    enum Direction: String, ExpressibleByArgument { case up, down }

    @OptionGroup var common: CommonOptions
    @Option(help: "Parallel streams.") var streams = 1
    @Option(help: "up: client → target; down: target → client.") var direction: Direction = .up
    @Option(help: "The target's own port (up: its sink count is read directly); default: --port.") var targetPort: UInt16?

    func run() throws {
        let loop = try EventLoop()
        let run = BulkRun(loop: loop, options: self, address: try common.address,
                          target: try SocketAddress(ip: "127.0.0.1", port: targetPort ?? common.port))
        run.start()
        loop.run()
        emit(run.result())
    }
}

private final class BulkRun {
    private let loop: EventLoop
    private let options: Bulk
    private let opener: Opener
    private let phases: Phases
    private let up: Bool
    private var control: SinkCounter?
    private var guardTimer: UVTimer?
    private var running = true
    private var bytesAtBegin: UInt64 = 0
    private var bytesAtEnd: UInt64 = 0
    private var cpuAtBegin = 0.0, cpuAtEnd = 0.0
    private var selfCPUAtBegin = 0.0, selfCPUAtEnd = 0.0
    private var completed = false
    private var failure: String?

    init(loop: EventLoop, options: Bulk, address: SocketAddress, target: SocketAddress) {
        self.loop = loop
        self.options = options
        up = options.direction == .up
        opener = Opener(loop: loop, address: address, mode: up ? .sink : .source,
                        count: options.streams, concurrency: options.common.openConcurrency)
        phases = Phases(loop: loop)
        if up { control = SinkCounter(loop: loop, target: target) }
    }

    func start() {
        opener.configure = { session in
            session.onData = { session, buffer in
                session.bytes += UInt64(buffer.count)
                session.pool.give(buffer)
            }
        }
        opener.onOpen = { [self] session in if up { pump(session) } }
        opener.onDone = { [self] in
            guard !opener.open.isEmpty else { return finish() }  // nothing to measure: incomplete
            phases.start(warmup: options.common.warmup, seconds: options.common.seconds, begin: { [self] in
                cpuAtBegin = options.common.pid.map { ProcStats.cpuSeconds(tree: $0) } ?? 0
                selfCPUAtBegin = selfCPUSeconds()
                bytes { [self] in bytesAtBegin = $0 }
            }, end: { [self] in
                cpuAtEnd = options.common.pid.map { ProcStats.cpuSeconds(tree: $0) } ?? 0
                selfCPUAtEnd = selfCPUSeconds()
                bytes { [self] in
                    bytesAtEnd = $0
                    completed = true
                    finish()
                }
            })
        }
        guardTimer = deadline(loop: loop, seconds: 60 + options.common.warmup + options.common.seconds) { [self] in finish() }
        if let control {
            control.onFailure = { [self] reason in
                failure = "sink count: \(reason)"
                finish()
            }
            control.open { [self] in opener.start() }
        } else {
            opener.start()
        }
    }

    /// Bytes moved so far: received by the client (down), or by the target's sink (up).
    private func bytes(_ body: @escaping (UInt64) -> Void) {
        if let control { return control.query(body) }
        body(opener.open.reduce(0) { $0 + $1.bytes })
    }

    /// Keeps two pool-sized writes queued per stream.
    private func pump(_ session: Session) {
        while running && !session.isClosed && session.inFlight < 2 {
            session.inFlight += 1
            session.send(session.pool.payload(session.pool.bufferSize)) { [self] in
                session.inFlight -= 1
                pump(session)
            }
        }
    }

    private func finish() {
        running = false
        phases.close()
        guardTimer?.close()
        control?.close()
        opener.closeAll()
    }

    func result() -> [String: Any] {
        let seconds = phases.elapsedSeconds
        let bytes = Double(bytesAtEnd &- bytesAtBegin)
        var result: [String: Any] = [
            "scenario": "bulk", "streams": options.streams, "direction": options.direction.rawValue,
            "complete": completed, "errors": opener.errors, "seconds": seconds, "bytes": bytes,
            "gbit_per_s": completed ? bytes * 8 / seconds / 1e9 : 0,
            "generator_cpu_share": completed ? (selfCPUAtEnd - selfCPUAtBegin) / seconds : 0,
        ]
        if let error = failure ?? opener.firstError { result["first_error"] = error }
        if options.common.pid != nil && completed && bytes > 0 {
            result["client_cpu_s"] = cpuAtEnd - cpuAtBegin
            result["client_cpu_s_per_gb"] = (cpuAtEnd - cpuAtBegin) / (bytes / 1e9)
        }
        return result
    }
}

/// A direct control connection to the target that reads its sink total.
private final class SinkCounter {
    private let session: Session
    private let target: SocketAddress
    private var waiting: [(UInt64) -> Void] = []
    var onFailure: ((String) -> Void)?

    init(loop: EventLoop, target: SocketAddress) {
        self.target = target
        session = try! Session(loop: loop, index: -1)
    }

    func open(_ ready: @escaping () -> Void) {
        session.onOpen = { _ in ready() }
        session.onEnd = { [self] _, reason in onFailure?(reason) }
        session.onData = { [self] session, buffer in
            buffer.withReadableBytes { bytes in
                for byte in bytes {
                    session.partial = (session.partial >> 8) | (UInt64(byte) << 56)
                    session.partialCount += 1
                    if session.partialCount == Wire.countSize, !waiting.isEmpty {
                        session.partialCount = 0
                        waiting.removeFirst()(session.partial)
                    }
                }
            }
            session.pool.give(buffer)
        }
        session.open(target, mode: .count)
    }

    func query(_ answer: @escaping (UInt64) -> Void) {
        waiting.append(answer)
        session.send(session.pool.buffers(copying: [0x3F])[0])
    }

    func close() { session.close() }
}
