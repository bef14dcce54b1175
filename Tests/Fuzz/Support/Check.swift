/// Invariant checks for the fuzz targets. A broken invariant must stop the
/// process with a signal, because that is what libFuzzer records as a crash
/// (and saves the input as crash-<hash>); a Swift trap does exactly that.
public enum Fuzz {
    /// Stops the run: fatalError prints why on stderr, then traps, so
    /// libFuzzer keeps the input.
    public static func fail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
        fatalError("fuzz invariant broken: \(message)", file: file, line: line)
    }

    public static func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                             file: StaticString = #fileID, line: UInt = #line) {
        if !condition() { fail(message(), file: file, line: line) }
    }

    public static func equal<T: Equatable>(_ a: T, _ b: T, _ what: @autoclosure () -> String,
                                           file: StaticString = #fileID, line: UInt = #line) {
        if a != b { fail("\(what()): \(String(reflecting: a)) != \(String(reflecting: b))", file: file, line: line) }
    }

    /// Error messages end up in log lines and on the terminal: a hostile peer
    /// must not be able to put a line break, a terminal escape or an
    /// invisible formatting character (a bidi override) into one, and an
    /// empty message helps nobody. Our own wording may use "…" and such.
    public static func checkLogLine(_ message: String, _ what: @autoclosure () -> String,
                                    file: StaticString = #fileID, line: UInt = #line) {
        check(!message.isEmpty, "\(what()): empty message", file: file, line: line)
        check(message.unicodeScalars.allSatisfy(isPrintable),
              "\(what()): not one printable line: \(String(reflecting: message))", file: file, line: line)
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned:
            return false
        default:
            return true
        }
    }

    /// Printable ASCII without space: what may go into a request line, a
    /// Host header or TLS SNI.
    public static func isVisibleASCII(_ text: String) -> Bool {
        text.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }
}
