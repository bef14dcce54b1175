import CShims

/// An OpenSSL failure, with the operation and OpenSSL's own reason text.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    /// Set when the handshake failed because the peer's certificate did not
    /// verify (OpenSSL's X509 reason): the user fixes that with a CA, not a retry.
    public let certificateProblem: String?

    public init(_ message: String, certificateProblem: String? = nil) {
        self.message = message
        self.certificateProblem = certificateProblem
    }

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
                reasons.append(String(nulTerminated: text))
            }
        }
        return TLSError(reasons.isEmpty ? operation : "\(operation): \(reasons.joined(separator: "; "))")
    }
}
