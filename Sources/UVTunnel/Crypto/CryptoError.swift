import CShims

/// A failed OpenSSL (or key/certificate) operation. `operation` names what was
/// being attempted so a log line says which step broke; `detail` carries
/// OpenSSL's own error-queue text when there is any.
public struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let detail: String

    public init(operation: String, detail: String) {
        self.operation = operation
        self.detail = detail
    }

    public var description: String {
        detail.isEmpty ? "\(operation) failed" : "\(operation) failed: \(detail)"
    }

    /// Builds the error for a failed OpenSSL call from the thread's error queue,
    /// draining it so a later, unrelated failure does not report stale entries.
    package static func openSSL(_ operation: String) -> CryptoError {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            // Keep the report bounded even if something flooded the queue.
            if messages.count < 4 { messages.append(errorString(code)) }
        }
        return CryptoError(operation: operation, detail: messages.joined(separator: "; "))
    }

    private static func errorString(_ code: UInt) -> String {
        // ERR_error_string_n always NUL-terminates within the given length.
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
