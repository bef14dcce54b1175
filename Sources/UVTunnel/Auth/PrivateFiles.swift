import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The file-system steps behind the token cache, written against POSIX calls
/// because the guarantees matter here: files are created 0600 and never exist
/// with looser modes, a replaced file is swapped in by rename (readers see the
/// old or the new token, never half of one), and reads are bounded.
enum PrivateFiles {
    /// Reads the token file `name` in `directory`, or nil when either does not
    /// exist. A token decides whose identity a tunnel carries, so the file is
    /// refused (with a message saying what to do) unless only we could have
    /// written it and only we can read it:
    ///
    /// - the directory is a real directory (not a symbolic link), owned by us,
    ///   and not writable by group or others (pomerium-cli's 0755 is fine);
    /// - the file is a regular file (not a link, FIFO, device), owned by us,
    ///   with no group or other permissions (0600 or tighter);
    /// - it is at most `limit` bytes.
    ///
    /// Both are opened without following links and checked with fstat on the
    /// open descriptors, so nothing can be swapped in between check and read.
    static func readPrivate(directory: String, name: String, limit: Int) throws(TokenCacheError) -> [UInt8]? {
        let path = (directory as NSString).appendingPathComponent(name)
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if directoryFD < 0 {
            let code = errno
            if code == ENOENT { return nil }
            if isSymbolicLink(directory) {
                throw TokenCacheError(path: directory, message: "token cache directory \(directory) is a symbolic link; refusing to use it (replace it with a directory of your own)")
            }
            throw .system("open token cache directory", path: directory, errno: code, advice: "check that it is a directory you own")
        }
        defer { close(directoryFD) }
        var directoryInfo = stat()
        guard fstat(directoryFD, &directoryInfo) == 0 else {
            throw .system("inspect token cache directory", path: directory, errno: errno, advice: "check its permissions")
        }
        guard directoryInfo.st_uid == geteuid() else {
            throw TokenCacheError(path: directory, message: "token cache directory \(directory) is owned by uid \(directoryInfo.st_uid), not you (uid \(geteuid())); refusing to use it (remove it, or set XDG_CACHE_HOME to a directory you own)")
        }
        guard directoryInfo.st_mode & 0o022 == 0 else {
            throw TokenCacheError(path: directory, message: "token cache directory \(directory) is writable by other users (mode \(octal(directoryInfo.st_mode))); refusing to use it (chmod 700 \(directory))")
        }

        // O_NONBLOCK: a FIFO planted under this name must not hang us before fstat sees it.
        let fd = openat(directoryFD, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            if code == ELOOP {
                throw TokenCacheError(path: path, message: "token file \(path) is a symbolic link; refusing it (remove it: the next sign-in writes a real file)")
            }
            throw .system("read token file", path: path, errno: code, advice: "check the file's owner and permissions")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .system("inspect token file", path: path, errno: errno, advice: "check the file's owner and permissions")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw TokenCacheError(path: path, message: "token file \(path) is not a regular file (remove it)")
        }
        guard info.st_uid == geteuid() else {
            throw TokenCacheError(path: path, message: "token file \(path) is owned by uid \(info.st_uid), not you (uid \(geteuid())); refusing it (remove it)")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw TokenCacheError(path: path, message: "token file \(path) has mode \(octal(info.st_mode)), open to other users (it must be 0600); refusing it (remove it and sign in again, or chmod 600 it)")
        }
        guard Int(info.st_size) <= limit else {
            throw tooLarge(path, limit: limit)
        }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .system("read token file", path: path, errno: errno, advice: "check the file system")
            }
            if count == 0 { break }
            contents += chunk.prefix(count)
            // The file may have grown since fstat: the limit holds regardless.
            guard contents.count <= limit else { throw tooLarge(path, limit: limit) }
        }
        return contents
    }

    /// Replaces the file at `path` with `bytes`: written to a fresh 0600 temporary
    /// file in the same directory (same file system, so rename is atomic), then renamed.
    static func writeAtomically(_ bytes: [UInt8], to path: String, temporaryPrefix: String) throws(TokenCacheError) {
        let directory = (path as NSString).deletingLastPathComponent
        let suffix = String(UInt64.random(in: .min ... .max), radix: 16)
        let temporary = (directory as NSString).appendingPathComponent("\(temporaryPrefix)\(suffix)")
        // O_EXCL + O_NOFOLLOW: never write through something already at that name.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
        guard fd >= 0 else {
            throw .system("create temporary token file", path: temporary, errno: errno, advice: "check that the directory is writable by you")
        }
        var committed = false
        defer { if !committed { unlink(temporary) } }
        do {
            defer { close(fd) }
            // The umask may have removed bits, never added them; make it exactly 0600 anyway.
            guard fchmod(fd, 0o600) == 0 else {
                throw TokenCacheError.system("set permissions of", path: temporary, errno: errno, advice: "check the file system")
            }
            try writeAll(bytes, to: fd, path: temporary)
        }
        guard rename(temporary, path) == 0 else {
            throw .system("replace token file", path: path, errno: errno, advice: "check that the directory is writable by you")
        }
        committed = true
    }

    /// Creates `path` (and missing parents) as 0700 directories, then makes sure
    /// the final one is a directory owned by us with no group/other access,
    /// tightening it if a looser one already exists (pomerium-cli makes 0755).
    static func makePrivateDirectory(_ path: String) throws(TokenCacheError) {
        try createDirectories(path, depth: 0)
        var info = stat()
        // lstat: a symbolic link here would send our tokens (and the chmod below) elsewhere.
        guard lstat(path, &info) == 0 else {
            throw .system("inspect token cache directory", path: path, errno: errno, advice: "check its permissions")
        }
        guard info.st_mode & S_IFMT != S_IFLNK else {
            throw TokenCacheError(path: path, message: "token cache directory \(path) is a symbolic link; refusing to write tokens through it (replace it with a directory of your own)")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw TokenCacheError(path: path, message: "token cache path \(path) exists but is not a directory (move it away)")
        }
        guard info.st_uid == geteuid() else {
            throw TokenCacheError(path: path, message: "token cache directory \(path) is owned by another user (remove it or set XDG_CACHE_HOME to a directory you own)")
        }
        if info.st_mode & 0o077 != 0 {
            guard chmod(path, 0o700) == 0 else {
                throw .system("restrict permissions of", path: path, errno: errno, advice: "run chmod 700 on it")
            }
        }
    }

    /// Removes `path`; a file that is already gone is not an error.
    static func remove(_ path: String) throws(TokenCacheError) {
        guard unlink(path) == 0 || errno == ENOENT else {
            throw .system("remove token file", path: path, errno: errno, advice: "check that the directory is writable by you")
        }
    }

    private static func createDirectories(_ path: String, depth: Int) throws(TokenCacheError) {
        if mkdir(path, 0o700) == 0 { return }
        let code = errno
        if code == EEXIST { return }
        let parent = (path as NSString).deletingLastPathComponent
        // ENOENT: a parent is missing. Create it first (bounded, in case of a
        // path that never resolves), then retry this one.
        guard code == ENOENT, depth < 64, !parent.isEmpty, parent != path else {
            throw .system("create token cache directory", path: path, errno: code, advice: "check that the parent directory is writable by you, or set XDG_CACHE_HOME")
        }
        try createDirectories(parent, depth: depth + 1)
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw .system("create token cache directory", path: path, errno: errno, advice: "check that the parent directory is writable by you, or set XDG_CACHE_HOME")
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws(TokenCacheError) {
        var offset = 0
        while offset < bytes.count {
            let remaining = Array(bytes[offset...])
            let written = write(fd, remaining, remaining.count)
            if written < 0 {
                if errno == EINTR { continue }
                throw .system("write temporary token file", path: path, errno: errno, advice: "check free space on the file system")
            }
            offset += written
        }
    }

    private static func isSymbolicLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// "0644": permission bits as chmod takes them.
    private static func octal(_ mode: mode_t) -> String {
        let text = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }

    private static func tooLarge(_ path: String, limit: Int) -> TokenCacheError {
        TokenCacheError(path: path, message: "token file \(path) is larger than \(limit / 1024) KiB, so it is not a token (remove it)")
    }
}
