import Foundation
import Logging

/// `--log-format json`: one JSON object per line on stderr, with the event
/// name as `msg` (`connecting`, `connected`, `auth required`, `disconnected`…),
/// the level, a timestamp, and the metadata (tunnel id, destination…).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

    /// The events a log reader filters on; a message starting with one of them
    /// gets it as its `event` field (longest first: "connected" vs "connecting").
    static let events = ["connecting", "connected", "auth required", "disconnected", "refused", "failed",
                         "signed in", "listening", "received signal", "reloaded", "reload rejected", "recheck"]

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [
            "time": ISO8601DateFormatter().string(from: Date()),
            "level": event.level.rawValue,
            "msg": event.message.description,
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            fields[key] = "\(value)"
        }
        if let name = Self.events.first(where: { event.message.description.hasPrefix($0) }) {
            fields["event"] = name
        }
        FileHandle.standardError.write(Self.encode(fields))
    }

    /// One JSON object and its newline (keys sorted, so lines diff well).
    static func encode(_ fields: [String: String]) -> Data {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data("{}".utf8)
        return data + Data("\n".utf8)
    }
}
