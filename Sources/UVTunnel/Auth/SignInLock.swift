import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Decides which process runs the browser sign-in for a gateway when several
/// need one at once (`--workers`, or many `uvtunnel exec` started together
/// for a load test): an exclusive `flock` on a file beside the cached token.
/// The holder signs in; the others wait for the token it stores. The kernel
/// drops the lock when its holder exits, crashed or not, so a waiter then
/// takes over. Owns the lock file's descriptor until `release()`.
final class SignInLock {
    enum Attempt {
        case acquired(SignInLock)
        /// Another process holds it: wait for its token.
        case heldElsewhere
        /// No lock file can be made (read-only cache...): sign in without coordination.
        case unavailable(String)
    }

    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Never blocks: the sign-in thread's loop polls instead of waiting here.
    static func tryAcquire(cache: TokenCache, key: String) -> Attempt {
        do throws(TokenCacheError) { try PrivateFiles.makePrivateDirectory(cache.directory) } catch {
            return .unavailable(error.description)
        }
        let path = cache.lockPath(forKey: key)
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o600)
        guard fd >= 0 else { return .unavailable("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            return code == EWOULDBLOCK ? .heldElsewhere : .unavailable("cannot lock \(path): \(String(cString: strerror(code)))")
        }
        return .acquired(SignInLock(fd: fd))
    }

    func release() {
        guard fd >= 0 else { return }
        close(fd)  // closing the last descriptor of the open file drops the flock
        fd = -1
    }

    deinit { release() }
}
