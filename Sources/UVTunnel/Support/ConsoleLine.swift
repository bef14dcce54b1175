import Foundation

/// The lines uvtunnel prints whatever the log level (the address it listens
/// on, where metrics are served, a sign-in URL, the error that ends the
/// process): plain text, or with `--log-format json` one JSON object per line
/// in the log's own shape, so a collector that parses stderr as JSON lines
/// never meets a stray one. The format is set once at start, before any
/// thread; the sign-in thread prints through it too, hence the lock.
public enum ConsoleLine {
    public enum Format: Sendable { case text, json }

    private static let state = FormatBox()

    public static var format: Format {
        get { state.get() }
        set { state.set(newValue) }
    }

    /// `text` as it reads on a terminal (no trailing newline); in JSON it is
    /// the `msg`, with `event` and `level` as the log's lines have them.
    public static func write(_ text: String, event: String, level: String = "info") {
        let line: Data
        switch format {
        case .text:
            line = Data((text + "\n").utf8)
        case .json:
            let fields = ["time": ISO8601DateFormatter().string(from: Date()), "level": level, "msg": text, "event": event]
            line = JSONLogHandler.encode(fields)
        }
        FileHandle.standardError.write(line)
    }

    private final class FormatBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value = Format.text
        func get() -> Format { lock.withLock { value } }
        func set(_ format: Format) { lock.withLock { value = format } }
    }
}
