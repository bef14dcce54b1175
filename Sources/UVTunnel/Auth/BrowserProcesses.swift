import Logging

/// The browser openers the sign-in thread started. Each is reaped when it
/// exits; when the thread stops, those still running are let go (detached,
/// never signalled), so stopping never waits on one. They are not killed
/// because the opener may be the user's own browser (`--browser-cmd firefox`
/// starts firefox itself when none runs), and uvtunnel cannot tell that from
/// a helper script.
final class BrowserProcesses {
    private var running: [Int: ChildSpawner] = [:]
    private var nextID = 1

    /// Starts `command`; `onExit` gets its exit status if it ends while we watch.
    func open(_ command: [String], loop: EventLoop, onExit: @escaping (Int64) -> Void) throws(UVError) {
        let id = nextID
        nextID += 1
        let child = try ChildSpawner.spawn(command, loop: loop) { [weak self] status, _ in
            self?.running[id] = nil
            onExit(status)
        }
        running[id] = child
    }

    var count: Int { running.count }

    /// Lets every running opener go; the loop no longer waits for them.
    func detachAll() {
        for child in running.values { child.detach() }
        running = [:]
    }
}
