import CShims

/// An OpenSSL failure, with the operation and OpenSSL's own reason text.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// Builds the error from OpenSSL's thread-local queue, draining it so the
    /// next operation starts clean.
    static func fromQueue(_ operation: String) -> TLSError {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                reasons.append(String(cString: text))
            }
        }
        return TLSError(reasons.isEmpty ? operation : "\(operation): \(reasons.joined(separator: "; "))")
    }
}
