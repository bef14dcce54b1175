#if canImport(Glibc)
import Glibc
#endif

/// A token cache operation that failed. `message` is one line that names the
/// path, what went wrong and what the user can do about it; it never contains
/// the token.
public struct TokenCacheError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { message }

    /// For a failed system call: "cannot <action> <path>: <strerror> (<advice>)".
    static func system(_ action: String, path: String, errno code: Int32, advice: String) -> TokenCacheError {
        let reason = String(cString: strerror(code))
        return TokenCacheError(path: path, message: "cannot \(action) \(path): \(reason) (\(advice))")
    }
}
