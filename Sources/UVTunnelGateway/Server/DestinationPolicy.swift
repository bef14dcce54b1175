import UVTunnel

/// Which destinations the bundled gateway will connect to. By default only
/// loopback ones, so running it never creates an open proxy.
public struct DestinationPolicy: Sendable {
    public enum Rule: Sendable, Equatable {
        case loopback
        case any
        /// `host:port`, either part may be `*`.
        case pattern(host: String, port: UInt16?)
    }

    public var rules: [Rule]

    public init(rules: [Rule] = [.loopback]) { self.rules = rules }

    /// Parses `--allow` values: `loopback`, `*`, `HOST:PORT`, `HOST:*`, `*:PORT`.
    public static func parse(_ values: [String]) throws(AddressError) -> DestinationPolicy {
        guard !values.isEmpty else { return DestinationPolicy() }
        var rules: [Rule] = []
        for value in values {
            switch value {
            case "loopback": rules.append(.loopback)
            case "*", "*:*": rules.append(.any)
            default:
                guard let colon = value.lastIndex(of: ":") else {
                    throw AddressError(message: "invalid --allow \"\(value)\": use loopback, *, HOST:PORT, HOST:* or *:PORT")
                }
                var host = String(value[..<colon])
                if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
                let portText = value[value.index(after: colon)...]
                let port: UInt16?
                if portText == "*" { port = nil } else if let p = UInt16(portText), p > 0 { port = p } else {
                    throw AddressError(message: "invalid --allow \"\(value)\": port must be 1-65535 or *")
                }
                rules.append(.pattern(host: host.lowercased(), port: port))
            }
        }
        return DestinationPolicy(rules: rules)
    }

    func allows(_ destination: ConnectTarget) -> Bool {
        rules.contains { rule in
            switch rule {
            case .any: return true
            case .loopback: return destination.isLoopback
            case .pattern(let host, let port):
                return (host == "*" || host == destination.host.lowercased()) && (port == nil || port == destination.port)
            }
        }
    }
}
