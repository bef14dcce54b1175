import Logging

extension Logger {
    /// A logger for tests that check behaviour, not log lines: only critical ones print.
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }
}
