import CShims

/// A libuv error code with the operation that produced it, so a log line says
/// what failed ("connect: connection refused") rather than only a number.
public struct UVError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32
    public let operation: String

    public init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    public var name: String { String(cString: uv_err_name(code)) }
    public var reason: String { String(cString: uv_strerror(code)) }
    public var description: String { "\(operation): \(reason)" }

    public var isEOF: Bool { code == UV_EOF.rawValue }
    public var isCancelled: Bool { code == UV_ECANCELED.rawValue }

    /// Throws when a libuv call returned a negative status.
    @inline(__always)
    static func check(_ status: Int32, _ operation: @autoclosure () -> String) throws(UVError) {
        if status < 0 { throw UVError(status, operation()) }
    }
}
