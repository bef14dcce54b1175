import CShims
import Glibc
import XCTest

/// Holds this process at its descriptor limit while a test makes a handle:
/// the soft `RLIMIT_NOFILE` is lowered to a little above the descriptors in
/// use (so the table fills with a few dozen dups, not a million), the free
/// slots are filled with duplicates of /dev/null until the next one fails
/// with EMFILE, `body` runs, and then every duplicate is closed and the limit
/// restored, whatever `body` did.
enum FullDescriptorTable {
    static func whileFull<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T) throws -> T {
        var saved = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved) == 0 else { throw SystemCallError(errno, "getrlimit") }
        let seed = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard seed >= 0 else { throw SystemCallError(errno, "open /dev/null") }
        var lowered = saved
        lowered.rlim_cur = rlim_t(highestOpenDescriptor() + 1 + 16)
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered) == 0 else {
            close(seed)
            throw SystemCallError(errno, "setrlimit")
        }
        var fillers: [Int32] = []
        defer {
            for fd in fillers { close(fd) }
            close(seed)
            var restore = saved
            XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restore), 0, "limit restored", file: file, line: line)
        }
        while true {
            let fd = dup(seed)
            if fd < 0 {
                XCTAssertEqual(errno, EMFILE, "the table filled up", file: file, line: line)
                break
            }
            fillers.append(fd)
        }
        // The table really is full: a socket cannot be made.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertEqual(probe, -1, "socket() fails while the table is full", file: file, line: line)
        if probe >= 0 { close(probe) }
        return try body()
    }

    private static func highestOpenDescriptor() -> Int32 {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        // The directory listing's own descriptor is listed too; harmless.
        return entries.compactMap { Int32($0) }.max() ?? 2
    }
}

struct SystemCallError: Error, CustomStringConvertible {
    let code: Int32
    let operation: String
    init(_ code: Int32, _ operation: String) { (self.code, self.operation) = (code, operation) }
    var description: String { "\(operation): \(String(cString: strerror(code)))" }
}
