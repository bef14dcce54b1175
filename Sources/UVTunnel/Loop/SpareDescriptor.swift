import Glibc

/// One descriptor held in reserve for libuv's accept at the descriptor limit.
///
/// libuv keeps a spare of its own per loop: when `accept` fails with EMFILE
/// it closes the spare, accepts and closes what waits in the backlog, and
/// opens the spare again. If that reopening fails (another thread took the
/// freed slot: DNS on libuv's pool, the sign-in thread), libuv has no spare
/// from then on, reports EMFILE to the listener and calls `accept` again at
/// once, in a loop that never returns while the table stays full (accept
/// fails with EMFILE before it looks at the backlog). This second spare is
/// handed to libuv at that moment (`EventLoop.restoreAcceptSpare`), so its
/// own trick works again; a new one is opened when there is room.
final class SpareDescriptor {
    private var fd: Int32 = -1

    /// Opens the spare if it is not held (at the limit this fails; it is
    /// tried again on the next call).
    func ensure() {
        guard fd < 0 else { return }
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Gives the descriptor away (nil when none is held).
    func take() -> Int32? {
        guard fd >= 0 else { return nil }
        defer { fd = -1 }
        return fd
    }

    var isHeld: Bool { fd >= 0 }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }
}
