import Foundation
import Glibc
import Logging
import UVTunnel

/// `--workers N`: past one core. The parent binds every route N times with
/// SO_REUSEPORT (so `:0` gets one port for all, and a bad address fails once,
/// before anything starts), then runs N copies of this program, each a whole
/// single-loop uvtunnel serving its own socket of each route. The kernel
/// spreads new connections across the sockets. The parent only forwards
/// signals (Ctrl-C, SIGTERM, SIGHUP for --config) and restarts a worker that
/// dies; it keeps no socket, so a route a worker stops serving is really gone.
final class WorkerParent {
    private struct Bound {
        let key: String
        let address: SocketAddress
    }

    private struct Worker {
        let child: ChildSpawner
        let startedAt: UInt64
    }

    /// A worker that dies sooner than this after starting did not start: stop, do not loop.
    static let startupMilliseconds: UInt64 = 2000

    private let loop: EventLoop
    private let command: [String]
    private let logger: Logger
    /// Each route's key and the address its sockets got (restarted workers bind it again).
    private let bound: [Bound]
    private var workers: [Int: Worker] = [:]
    private var signals: [SignalWatcher] = []
    private var restartTimers: [Int: UVTimer] = [:]
    private var isStopping = false
    private var exitCode: Int32 = 0

    private init(loop: EventLoop, command: [String], bound: [Bound], logger: Logger) {
        self.loop = loop
        self.bound = bound
        self.command = command
        self.logger = logger
    }

    /// The whole life of the parent; returns the exit code.
    static func run(count: Int, source: EntrySource, logger: Logger) throws -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let descriptors = DescriptorLimit.raiseSoftToHard()
        logger.debug("descriptor limit: \(descriptors)")
        let (prepared, _) = try source.prepare(logger: logger)
        var sockets: [[ReusePortSocket]] = Array(repeating: [], count: count)  // [worker][route]
        var bound: [Bound] = []
        for entry in prepared {
            guard entry.entry.protocol == .tcp else {
                let place = entry.entry.line.map { " (config line \($0))" } ?? ""
                throw UsageError("--workers does not serve protocol = \"udp\" entries yet\(place); run them in a process without --workers")
            }
            guard let address = entry.listen else {
                throw UsageError("--workers cannot share --listen - (stdin/stdout); give a TCP address or leave --workers out")
            }
            var port = address.port
            for worker in 0..<count {
                do {
                    let socket = try ReusePortSocket(address: address.withPort(port))
                    port = socket.address.port
                    sockets[worker].append(socket)
                } catch {
                    throw RuntimeError("cannot listen on \(address): \(error.reason)")
                }
            }
            let first = sockets[0].last!.address
            bound.append(Bound(key: entry.entry.listen, address: first))
            RouteListeners.announce(entry, first, workers: count, logger: logger)
        }
        let loop = try EventLoop()
        let parent = WorkerParent(loop: loop, command: [try Self.ownExecutable()] + CommandLine.arguments.dropFirst(),
                                  bound: bound, logger: logger)
        try parent.startSignals()
        for index in 0..<count {
            let mine = sockets[index]
            defer { mine.forEach { $0.close() } }  // the worker has its own copies now
            do {
                try parent.spawn(index, passing: mine)
            } catch {
                parent.stop(code: 1)
                logger.error("cannot start worker \(index): \(error)")
                break
            }
        }
        loop.run()
        loop.close()
        return parent.exitCode
    }

    private static func ownExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { throw RuntimeError("--workers: cannot find this program's own path (/proc/self/exe)") }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Starts worker `index` with `passing` (its sockets, in route order), or,
    /// for a restart, with the addresses to bind again.
    private func spawn(_ index: Int, passing: [ReusePortSocket]?) throws(UVError) {
        let environment: [String: String]
        if let passing {
            environment = WorkerHandoff.environment(index: index, passed: bound.map(\.key), rebind: [])
            precondition(passing.count == bound.count)
        } else {
            environment = WorkerHandoff.environment(index: index, passed: [], rebind: bound.map { ($0.key, $0.address) })
        }
        let child = try ChildSpawner.spawn(command, loop: loop, stdio: .inherit, extraEnvironment: environment,
                                           passing: (passing ?? []).map(\.fd)) { [weak self] status, signal in
            self?.exited(index, status: status, signal: signal)
        }
        workers[index] = Worker(child: child, startedAt: loop.now)
        logger.debug("worker \(index) started, pid \(child.pid)")
    }

    private func exited(_ index: Int, status: Int64, signal: Int32) {
        guard let worker = workers.removeValue(forKey: index) else { return }
        let how = signal != 0 ? "was killed by signal \(signal)" : "exited with status \(status)"
        let code: Int32 = signal != 0 ? 1 : Int32(truncatingIfNeeded: status)
        if isStopping {
            if code != 0 && exitCode == 0 { exitCode = code }
            return finishIfDone()
        }
        if loop.now - worker.startedAt < Self.startupMilliseconds {
            logger.error("worker \(index) \(how) right after it started; stopping the other workers")
            return stop(code: code == 0 ? 1 : code)
        }
        logger.warning("worker \(index) \(how); starting it again (tunnels it carried were cut)")
        let timer = restartTimers[index] ?? UVTimer(loop: loop)
        restartTimers[index] = timer
        timer.start(milliseconds: 200) { [weak self] in
            guard let self, !self.isStopping else { return }
            do { try self.spawn(index, passing: nil) } catch {
                self.logger.error("cannot start worker \(index) again: \(error); stopping")
                self.stop(code: 1)
            }
        }
    }

    private func startSignals() throws {
        for signum in [SIGINT, SIGTERM, SIGHUP] {
            signals.append(try SignalWatcher(loop: loop, signal: signum) { [weak self] signum in self?.signalled(signum) })
        }
    }

    /// SIGHUP goes to every worker (each re-reads --config); SIGINT and
    /// SIGTERM stop them, each draining its own tunnels.
    private func signalled(_ signum: Int32) {
        if signum == SIGHUP {
            for worker in workers.values { worker.child.kill(SIGHUP) }
            return
        }
        logger.info("received signal \(signum): stopping \(workers.count) worker(s)")
        isStopping = true
        for worker in workers.values { worker.child.kill(signum) }
        finishIfDone()
    }

    private func stop(code: Int32) {
        if exitCode == 0 { exitCode = code }
        isStopping = true
        for worker in workers.values { worker.child.kill(SIGTERM) }
        finishIfDone()
    }

    private func finishIfDone() {
        guard isStopping, workers.isEmpty else { return }
        signals.forEach { $0.close() }
        signals = []
        restartTimers.values.forEach { $0.close() }
        restartTimers = [:]
    }
}
