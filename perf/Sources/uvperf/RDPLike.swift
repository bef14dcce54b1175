import Foundation
import ArgumentParser
import UVTunnel

/// Sessions shaped like remote desktop: the target sends frames of 1–16 KiB at
/// 30 per second with bursts (see `RDPShape`), the client sends 50-byte inputs
/// at 60 per second. The figure is the frame delay: from the moment the target
/// queued a frame (stamped in its header) to its last byte reaching the client.
struct RDPLike: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rdp", abstract: "RDP-shaped sessions: frame delay p50/p99/p99.9.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Concurrent sessions.") var sessions = 100
    @Option(help: "Client→server inputs per second per session.") var inputsPerSecond = 60.0
    @Option(help: "Input size in bytes.") var inputSize = 50
    @OptionGroup(title: "Frame shape (as given to serve)") var shape: RDPShape

    func run() throws {
        let loop = try EventLoop()
        let run = RDPRun(loop: loop, options: self, address: try common.address)
        run.start()
        loop.run()
        emit(run.result())
    }
}

/// Reassembles frames from a session's byte stream (headers may straddle reads).
private final class FrameReader {
    private var header = [UInt8](repeating: 0, count: FrameHeader.size)
    private var headerFill = 0
    private var remaining = 0  // bytes of the current frame's body still to come
    private var sentAt: UInt64 = 0
    var inputTimer: UVTimer?
    var nextInputAt: UInt64 = 0

    /// Calls `frameDone(sentAt)` for each frame whose last byte is in `bytes`.
    func consume(_ bytes: UnsafeRawBufferPointer, frameDone: (UInt64) -> Void) {
        var i = 0
        while i < bytes.count {
            if headerFill < FrameHeader.size {
                let n = min(FrameHeader.size - headerFill, bytes.count - i)
                for k in 0..<n { header[headerFill + k] = bytes[i + k] }
                headerFill += n
                i += n
                guard headerFill == FrameHeader.size else { return }
                let length = header[0..<4].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
                sentAt = header[4..<12].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                remaining = length - FrameHeader.size
            }
            let n = min(remaining, bytes.count - i)
            remaining -= n
            i += n
            if remaining == 0 {
                frameDone(sentAt)
                headerFill = 0
            }
        }
    }
}

private final class RDPRun {
    private let loop: EventLoop
    private let options: RDPLike
    private let opener: Opener
    private let phases: Phases
    private var readers: [Int: FrameReader] = [:]
    private var guardTimer: UVTimer?
    private var running = true
    private var delay = Latency()
    private var frameBytes: UInt64 = 0
    private var inputs = 0
    private var inputsDropped = 0
    private var completed = false
    private var openSeconds = 0.0
    /// UVPERF_TRACE=FILE: every measured frame's arrival, delay and session, written at the end.
    private let tracePath = ProcessInfo.processInfo.environment["UVPERF_TRACE"]
    private var tracing: Bool { tracePath != nil }
    private var trace: [(UInt64, UInt64, Int)] = []

    init(loop: EventLoop, options: RDPLike, address: SocketAddress) {
        self.loop = loop
        self.options = options
        opener = Opener(loop: loop, address: address, mode: .rdp, count: options.sessions, concurrency: options.common.openConcurrency)
        phases = Phases(loop: loop)
    }

    func start() {
        opener.configure = { [self] session in
            let reader = FrameReader()
            readers[session.index] = reader
            session.onData = { [self] session, buffer in
                let measuring = phases.isMeasuring
                if measuring { frameBytes += UInt64(buffer.count) }
                buffer.withReadableBytes { bytes in
                    reader.consume(bytes) { sentAt in
                        if measuring {
                            let now = nowNanos()
                            delay.record(nanos: now &- sentAt)
                            if tracing { trace.append((now, now &- sentAt, session.index)) }
                        }
                    }
                }
                session.pool.give(buffer)
            }
        }
        let openStarted = nowNanos()
        opener.onDone = { [self] in
            guard !opener.open.isEmpty else { return finish() }  // nothing to measure: incomplete
            openSeconds = Double(nowNanos() - openStarted) / 1e9
            // The first input starts the target's frames: all sessions start together.
            for session in opener.open { startInputs(session) }
            phases.start(warmup: options.common.warmup, seconds: options.common.seconds, begin: {}, end: { [self] in
                completed = true
                finish()
            })
        }
        guardTimer = deadline(loop: loop, seconds: 120 + options.common.warmup + options.common.seconds) { [self] in finish() }
        opener.start()
    }

    /// Inputs on an absolute schedule (libuv timers have 1 ms steps; 60/s is 16.7 ms).
    private func startInputs(_ session: Session) {
        guard let reader = readers[session.index] else { return }
        let period = UInt64(1e9 / options.inputsPerSecond)
        let timer = UVTimer(loop: loop)
        reader.inputTimer = timer
        reader.nextInputAt = nowNanos() + UInt64.random(in: 0..<period)
        func arm() {
            let now = nowNanos()
            timer.start(milliseconds: reader.nextInputAt > now ? (reader.nextInputAt - now) / 1_000_000 : 0) { [self] in
                guard running, !session.isClosed else { return timer.close() }
                // Inputs queue behind a stalled tunnel only so far; the rest are dropped and counted.
                if session.inFlight < 4 {
                    session.inFlight += 1
                    session.send(session.pool.payload(options.inputSize)) { session.inFlight -= 1 }
                    if phases.isMeasuring { inputs += 1 }
                } else if phases.isMeasuring {
                    inputsDropped += 1
                }
                reader.nextInputAt += period
                arm()
            }
        }
        arm()
    }

    private func finish() {
        running = false
        phases.close()
        guardTimer?.close()
        for reader in readers.values { reader.inputTimer?.close() }
        opener.closeAll()
    }

    func result() -> [String: Any] {
        let seconds = phases.elapsedSeconds
        var result: [String: Any] = [
            "scenario": "rdp", "sessions": options.sessions, "complete": completed,
            "opened": opener.open.count, "errors": opener.errors, "seconds": seconds, "open_seconds": openSeconds,
            "frames_per_s": completed ? Double(delay.count) / seconds : 0,
            "frame_mbit_per_s": completed ? Double(frameBytes) * 8 / seconds / 1e6 : 0,
            "inputs_per_s": completed ? Double(inputs) / seconds : 0,
            "inputs_dropped": inputsDropped,
            "frames_delivered_share": completed ? Double(delay.count) / seconds / (options.shape.offeredPerSecond * Double(options.sessions)) : 0,
        ]
        result.merge(delay.summary("frame_delay")) { a, _ in a }
        if let tracePath {
            let text = trace.map { "\($0.0) \($0.1) \($0.2)" }.joined(separator: "\n")
            FileManager.default.createFile(atPath: tracePath, contents: Data(text.utf8))
        }
        if let error = opener.firstError { result["first_error"] = error }
        return result
    }
}
