import ArgumentParser
import Foundation
import UVTunnel

/// The targets every scenario talks to, behind one port: the client's first
/// byte picks echo, sink, source or rdp (see `Mode`), so each tunnel under
/// test needs one destination only.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the target servers (echo, sink, source, rdp-like) on one port.")

    @Option(help: "Address to listen on; the bound address is printed on stdout.")
    var listen = "127.0.0.1:0"

    @OptionGroup var rdp: RDPShape

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let loop = try EventLoop()
        let listener = try TCPListener(loop: loop, address: try SocketAddress.parseListen(listen), backlog: TCPListener.maximumBacklog)
        var seed: UInt64 = 1
        let sinkTotal = SinkTotal()
        listener.start { stream in
            seed &+= 1
            TargetConnection(stream: stream, loop: loop, rdp: rdp, seed: seed, sinkTotal: sinkTotal).start()
        }
        listener.onAcceptError = { error in
            FileHandle.standardError.write(Data("uvperf serve: \(error)\n".utf8))
        }
        FileHandle.standardOutput.write(Data("uvperf-serve: listening on \(listener.address)\n".utf8))
        loop.run()
    }
}

/// The shape of the rdp-like frames the target sends; `rdp` takes the same
/// options to know what was offered.
struct RDPShape: ParsableArguments {
    @Option(help: "Server→client frames per second per session.")
    var framesPerSecond = 30.0
    @Option(help: "Smallest frame in bytes (header included).")
    var minFrame = 1024
    @Option(help: "Largest frame in bytes.")
    var maxFrame = 16384
    @Option(help: "Every this many frames, a burst of --burst-frames more goes out back to back (a screen change).")
    var burstEvery = 30
    @Option(help: "Frames in a burst.")
    var burstFrames = 4
    @Option(help: "Frames a session may have queued and unsent; past it new frames are skipped, as an RDP server does when the client has not acknowledged them (so a saturated tunnel cannot grow the server's memory without bound).")
    var maxQueuedFrames = 8

    var offeredPerSecond: Double { framesPerSecond * (1 + Double(burstFrames) / Double(burstEvery)) }
}

/// Bytes received by every sink connection of the server (one loop: no lock).
final class SinkTotal {
    var bytes: UInt64 = 0
}

/// One accepted connection of the target server.
final class TargetConnection {
    private let stream: UVStream
    private let pool: BufferPool
    private let loop: EventLoop
    private let rdp: RDPShape
    private var rng: SplitMix64
    private var mode: Mode?
    private var pendingWrites = 0
    private var isClosed = false
    private var timer: UVTimer?
    private let sinkTotal: SinkTotal
    // rdp
    private var nextFrameAt: UInt64 = 0
    private var frameNumber = 0
    private var queuedFrames = 0

    init(stream: UVStream, loop: EventLoop, rdp: RDPShape, seed: UInt64, sinkTotal: SinkTotal) {
        self.stream = stream
        self.sinkTotal = sinkTotal
        self.loop = loop
        self.rdp = rdp
        pool = loop.buffers
        rng = SplitMix64(seed: seed)
    }

    func start() {
        stream.setNoDelay()
        stream.onRead = { [self] event in read(event) }
        stream.startReading()
    }

    private func read(_ event: ReadEvent) {
        guard case .data(let buffer) = event else { return close() }
        if mode == nil {
            let byte = buffer.withReadableBytes { $0[0] }
            guard let chosen = Mode(rawValue: byte) else {
                pool.give(buffer)
                return close()
            }
            buffer.consume(1)
            mode = chosen
            begin(chosen)
            if buffer.isEmpty { return pool.give(buffer) }
        }
        switch mode! {
        case .echo:
            write(buffer)
            // Backpressure: a client that does not read stops us reading it.
            if pendingWrites >= 4 { stream.stopReading() }
        case .sink:
            sinkTotal.bytes += UInt64(buffer.count)
            pool.give(buffer)
        case .count:
            let queries = buffer.count
            pool.give(buffer)
            for _ in 0..<queries { write(pool.buffers(copying: sinkTotal.bytes.littleEndianBytes)) }
        case .source:
            pool.give(buffer)
        case .rdp:
            pool.give(buffer)
            startFrames()
        case .rdpEcho:
            // Echoes queue behind the frames, as the answer to a real input
            // would; only a client that has stopped reading (64 writes
            // pending) gets no more of them rather than a growing queue here.
            if pendingWrites < 64 {
                let header = (FrameHeader.echoFlag | UInt32(FrameHeader.size + buffer.count)).littleEndianBytes + nowNanos().littleEndianBytes
                write(pool.buffers(copying: header) + [buffer])
            } else {
                pool.give(buffer)
            }
            if timer == nil { sendFrame() }
            startFrames()
        }
    }

    private func begin(_ mode: Mode) {
        write(pool.buffers(copying: [Wire.ack]))
        switch mode {
        case .echo:
            break
        case .sink, .count:
            break
        case .source:
            pumpSource()
        case .rdp, .rdpEcho:
            // Frames start with the client's first input (sent once all its
            // sessions are open), so opening a thousand is not slowed by the
            // traffic of those already open.
            break
        }
    }

    /// Source mode keeps four 64 KiB writes queued, so the socket never idles.
    private func pumpSource() {
        while !isClosed && pendingWrites < 4 {
            write(pool.payload(pool.bufferSize)) { [self] in pumpSource() }
        }
    }

    private func startFrames() {
        guard timer == nil else { return }
        timer = UVTimer(loop: loop)
        // A random phase, so a thousand sessions do not send in lockstep, and
        // a random place in the burst cycle: sessions start together, so
        // counting every session's frames from 0 put all their screen
        // changes in the same frame period (1,000 sessions x 5 frames, ~43 MB
        // within 33 ms, once a second), which no set of real users does.
        nextFrameAt = nowNanos() + UInt64.random(in: 0..<framePeriod, using: &rng)
        frameNumber = Int.random(in: 0..<max(1, rdp.burstEvery), using: &rng)
        scheduleFrame()
    }

    private var framePeriod: UInt64 { UInt64(1e9 / rdp.framesPerSecond) }

    private func scheduleFrame() {
        let now = nowNanos()
        let wait = nextFrameAt > now ? (nextFrameAt - now) / 1_000_000 : 0
        timer?.start(milliseconds: wait) { [self] in
            frameNumber += 1
            let frames = frameNumber % rdp.burstEvery == 0 ? 1 + rdp.burstFrames : 1
            for _ in 0..<frames { sendFrame() }
            nextFrameAt += framePeriod
            scheduleFrame()
        }
    }

    private func sendFrame() {
        guard queuedFrames < rdp.maxQueuedFrames else { return }
        let size = Int.random(in: rdp.minFrame...rdp.maxFrame, using: &rng)
        let header = UInt32(size).littleEndianBytes + nowNanos().littleEndianBytes
        queuedFrames += 1
        write(pool.payload(size, header: header)) { [self] in queuedFrames -= 1 }
    }

    private func write(_ buffer: Buffer, then next: (() -> Void)? = nil) {
        write([buffer], then: next)
    }

    private func write(_ buffers: [Buffer], then next: (() -> Void)? = nil) {
        guard !isClosed else {
            buffers.forEach(pool.give)
            return
        }
        pendingWrites += 1
        stream.write(buffers) { [self] error in
            pendingWrites -= 1
            if error != nil { return close() }
            if mode == .echo && pendingWrites <= 1 && !isClosed { stream.startReading() }
            next?()
        }
    }

    private func close() {
        guard !isClosed else { return }
        isClosed = true
        timer?.close()
        timer = nil
        stream.close()
    }
}
