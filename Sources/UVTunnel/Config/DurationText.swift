/// A duration as users write it: a bare number of seconds (`90`, `2.5`), or
/// Go's units as Pomerium's own configuration writes them (`500ms`, `10s`,
/// `3m`, `8h`, `1h30m`, `1.5h`, also `us`/`µs` and `ns`). Every flag and
/// config key that takes a time reads it through here.
public enum DurationText {
    /// What the user should write instead of a value `seconds` refused.
    public static let expected = "a duration such as 90 (seconds), 2.5, 500ms, 10s, 3m or 1h30m"

    /// Seconds, or nil when `text` is not a duration. A leading `-` is read,
    /// so that a negative value reaches the option's range check and its message.
    public static func seconds(_ text: String) -> Double? {
        var rest = Substring(text).drop { $0 == " " || $0 == "\t" }
        while rest.last == " " || rest.last == "\t" { rest = rest.dropLast() }
        var sign = 1.0
        if rest.first == "-" {
            sign = -1
            rest = rest.dropFirst()
        }
        guard let first = rest.first, first.isASCII, first.isNumber || first == "." else { return nil }
        if rest.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "." }) {
            return Double(rest).map { sign * $0 }
        }
        var total = 0.0
        while !rest.isEmpty {
            let digits = rest.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
            guard !digits.isEmpty, digits != ".", let number = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.name) }) else { return nil }
            rest = rest.dropFirst(unit.name.count)
            total += number * unit.seconds
        }
        return total.isFinite ? sign * total : nil
    }

    /// Longest first, so "ms" is not read as "m" then "s".
    private static let units: [(name: String, seconds: Double)] = [
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
    ]
}
