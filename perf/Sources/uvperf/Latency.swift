import Histogram

/// A latency distribution in microseconds (HdrHistogram, 3 significant digits).
struct Latency {
    private var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)

    mutating func record(nanos: UInt64) {
        _ = histogram.record(min(600_000_000, max(1, nanos / 1000)))
    }

    var count: UInt64 { histogram.totalCount }

    /// p50, p99, p99.9 and max under `name`_p50_us etc.; nil when nothing was recorded.
    func summary(_ name: String) -> [String: Any] {
        guard count > 0 else { return ["\(name)_count": 0] }
        return [
            "\(name)_count": Int(count),
            "\(name)_p50_us": Int(histogram.valueAtPercentile(50)),
            "\(name)_p99_us": Int(histogram.valueAtPercentile(99)),
            "\(name)_p999_us": Int(histogram.valueAtPercentile(99.9)),
            "\(name)_max_us": Int(histogram.max),
        ]
    }
}
