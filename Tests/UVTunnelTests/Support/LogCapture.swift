import Foundation
import Logging

/// Keeps the lines a logger emits, for tests that check what was logged
/// ("one line per tunnel", its level and wording).
final class LogCapture: @unchecked Sendable {
    struct Line: Equatable {
        let level: Logger.Level
        let message: String
    }

    private let lock = NSLock()
    private var stored: [Line] = []

    var lines: [Line] { lock.withLock { stored } }

    /// Lines at `level` or above.
    func lines(atLeast level: Logger.Level) -> [Line] { lines.filter { $0.level >= level } }

    fileprivate func append(_ line: Line) { lock.withLock { stored.append(line) } }

    /// A logger that writes here, at `level` and above.
    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in CapturingLogHandler(capture: self) }
        logger.logLevel = level
        return logger
    }
}

private struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.append(.init(level: event.level, message: event.message.description))
    }
}
