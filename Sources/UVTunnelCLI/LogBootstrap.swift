import Foundation
import Logging
import UVTunnel

/// Sets up swift-log once: text or JSON lines on stderr, level from LOG_LEVEL.
enum LogBootstrap {
    static func start(format: LogFormat) -> Logger {
        let raw = ProcessInfo.processInfo.environment["LOG_LEVEL"]
        let level = LogSetup.level(from: raw)
        ConsoleLine.format = format == .json ? .json : .text
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level ?? .info
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level ?? .info
                return handler
            }
        }
        let logger = Logger(label: "uvtunnel")
        if level == nil {
            logger.warning("LOG_LEVEL=\(raw ?? "") is not a level; use trace, debug, info, warning or error (using info)")
        }
        return logger
    }
}
