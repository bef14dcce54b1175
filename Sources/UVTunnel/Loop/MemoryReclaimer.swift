import CShims
import Logging

/// Gives memory back after a burst: once a period (1 s), the loop's buffer
/// pool frees the buffers nobody took during it, and on the first period
/// without connection churn after some, the heap's free pages go back to the
/// kernel (`HeapTrimTrigger`); on mimalloc, page spans freed at any time go
/// back at once (`HeapTrim.decommitFreedSpansAtOnce`). Nothing here runs on
/// the relay's path: the timer only reads counters the loop and the pool
/// keep anyway.
public final class MemoryReclaimer {
    public struct Settings: Equatable, Sendable {
        public var releasePoolBuffers = true
        public var trimHeap = true

        public init(releasePoolBuffers: Bool = true, trimHeap: Bool = true) {
            self.releasePoolBuffers = releasePoolBuffers
            self.trimHeap = trimHeap
        }

        /// `UVTUNNEL_RECLAIM` (diagnostics and perf/hold-rss's side-by-side
        /// runs): `none`, `pool`, `trim` or `pool,trim` (the default). `trim`
        /// also covers mimalloc's immediate decommit of freed page spans.
        public static func parse(_ text: String?) throws(ReclaimSettingError) -> Settings {
            guard let text else { return Settings() }
            let words = Set(text.split(separator: ",").map { String($0.filter { $0 != " " }) })
            if words == ["none"] { return Settings(releasePoolBuffers: false, trimHeap: false) }
            guard !words.isEmpty, words.isSubset(of: ["pool", "trim"]) else { throw ReclaimSettingError(text: text) }
            return Settings(releasePoolBuffers: words.contains("pool"), trimHeap: words.contains("trim"))
        }
    }

    public struct ReclaimSettingError: Error, CustomStringConvertible {
        let text: String
        public var description: String { "UVTUNNEL_RECLAIM=\(text): expected none, pool, trim or pool,trim" }
    }

    private let loop: EventLoop
    private let settings: Settings
    private let timer: UVTimer
    private var trigger: HeapTrimTrigger
    private let trim: () -> Void
    private let logger: Logger
    /// How many times the heap was trimmed (tests, debug log).
    public private(set) var trims = 0

    /// `trim` is `HeapTrim.trim` (mimalloc's collect or glibc's malloc_trim) except in tests.
    public init(loop: EventLoop, settings: Settings = Settings(), periodMilliseconds: UInt64 = 1000,
                logger: Logger, trim: @escaping () -> Void = HeapTrim.trim) {
        self.loop = loop
        self.settings = settings
        self.logger = logger
        self.trim = trim
        trigger = HeapTrimTrigger(churn: loop.connectionChurn)
        timer = UVTimer(loop: loop)
        if settings.trimHeap, HeapTrim.decommitFreedSpansAtOnce() {
            logger.debug("mimalloc gives freed page spans back at once")
        }
        guard settings.releasePoolBuffers || settings.trimHeap else { return }
        timer.start(milliseconds: periodMilliseconds, repeat: periodMilliseconds) { [weak self] in self?.tick() }
        // Housekeeping: the loop still ends when the last real handle closes.
        timer.unref()
    }

    private func tick() {
        let released = settings.releasePoolBuffers ? loop.buffers.releaseUnused() : 0
        guard settings.trimHeap, trigger.tick(churn: loop.connectionChurn, opening: loop.connectionsOpening, released: released) else { return }
        let started = uv_hrtime()
        trim()
        trims += 1
        logger.debug("gave free heap pages back after a burst (\(HeapTrim.allocator); \(released) pool buffers freed; trim took \((uv_hrtime() - started) / 1000) µs)")
    }

    public func close() { timer.close() }
}
