import Foundation
import Logging

/// One place that turns `LOG_LEVEL` into swift-log's level, for both programs.
public enum LogSetup {
    /// Parses LOG_LEVEL (trace, debug, info, notice, warning/warn, error, critical);
    /// nil for anything else so the caller can say so.
    public static func level(from text: String?) -> Logger.Level? {
        guard let text = text?.lowercased(), !text.isEmpty else { return .info }
        if text == "warn" { return .warning }
        return Logger.Level(rawValue: text)
    }

    /// Logs to stderr; returns a warning to print when LOG_LEVEL was not understood.
    public static func bootstrap(label: String) -> (Logger, String?) {
        let raw = ProcessInfo.processInfo.environment["LOG_LEVEL"]
        let level = level(from: raw)
        LoggingSystem.bootstrap { name in
            var handler = StreamLogHandler.standardError(label: name)
            handler.logLevel = level ?? .info
            return handler
        }
        let warning = level == nil ? "LOG_LEVEL=\(raw ?? "") is not a level; use trace, debug, info, warning or error (using info)" : nil
        return (Logger(label: label), warning)
    }
}
