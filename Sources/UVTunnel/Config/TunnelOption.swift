/// Every option a tunnel (or the whole process) takes, declared once: its
/// config key, which is also its flag without `--`, where it may appear, the
/// kind of value it takes, and for a number of seconds its range and the one
/// message that a value outside it gets. The flags (UVTunnelCLI's
/// TunnelFlags) and the config file reader both take their names and checks
/// from here, so the same mistake gets the same words either way, naming the
/// flag on the command line and the key (with its line) in a config file.
public enum TunnelOption: String, CaseIterable, Sendable {
    case listen
    case route
    case pomeriumURL = "pomerium-url"
    case disableTLSVerification = "disable-tls-verification"
    case alternateCAPath = "alternate-ca-path"
    case caCert = "ca-cert"
    case clientCert = "client-cert"
    case clientKey = "client-key"
    case browserCommand = "browser-cmd"
    case noBrowser = "no-browser"
    case serviceAccount = "service-account"
    case serviceAccountFile = "service-account-file"
    case egressProxy = "egress-proxy"
    case connectTimeout = "connect-timeout"
    case authTimeout = "auth-timeout"
    case maxTunnelLifetime = "max-tunnel-lifetime"
    case recheckInterval = "recheck-interval"
    case allowFrom = "allow-from"
    case multiplex
    /// With `multiplex`: tunnels (HTTP/2 streams) per gateway connection at most.
    case maxStreamsPerConnection = "max-streams-per-connection"
    /// With `multiplex`: a tunnel's first bytes go right behind its CONNECT,
    /// before the answer (`early-data = false`, `--no-early-data`: only after it).
    case earlyData = "early-data"
    /// `tcp` (the default) or `udp`: which kind of listener a `[[tunnel]]` is.
    case `protocol`
    case udpIdleTimeout = "udp-idle-timeout"
    case udpMaxSessions = "udp-max-sessions"
    case drainTimeout = "drain-timeout"
    case metricsAddress = "metrics-addr"

    /// What a value must be.
    public enum Kind: Equatable, Sendable {
        case string
        case boolean
        /// A comma-separated list on the command line; a string or an array of strings in a config file.
        case stringList
        case seconds(ClosedRange<Double>)
        /// A whole number in this range.
        case integer(ClosedRange<Int>)
        /// One of these words.
        case choice([String])
    }

    /// Where an option may be set.
    public enum Scope: Equatable, Sendable {
        /// Per tunnel: a flag, a `[[tunnel]]` key, or a default before the first table.
        case tunnel
        /// Only inside a `[[tunnel]]` table (on the command line: `--listen`, ROUTE).
        case tunnelTableOnly
        /// The whole process: a flag, or a key before the first `[[tunnel]]`.
        case process
    }

    /// The key in a config file; the flag is `--` and this.
    public var key: String { rawValue }
    /// The command-line flag.
    public var flag: String { "--" + rawValue }

    public var kind: Kind {
        switch self {
        case .disableTLSVerification, .noBrowser, .multiplex, .earlyData: return .boolean
        case .allowFrom: return .stringList
        // Bounds: at least 1 ms where 0 would mean "fail at once"; a day or an
        // hour as the sane top; a year for a tunnel's life.
        case .connectTimeout: return .seconds(0.001...3600)
        case .authTimeout: return .seconds(0.001...86400)
        case .maxTunnelLifetime: return .seconds(0.001...31_536_000)
        case .recheckInterval: return .seconds(1...86400)
        case .drainTimeout: return .seconds(0...86400)
        case .udpIdleTimeout: return .seconds(0.001...86400)
        case .udpMaxSessions: return .integer(1...1_000_000)
        case .maxStreamsPerConnection: return .integer(1...10_000)
        case .protocol: return .choice(TunnelProtocol.allCases.map(\.rawValue))
        default: return .string
        }
    }

    public var scope: Scope {
        switch self {
        case .listen, .route, .protocol: return .tunnelTableOnly
        case .drainTimeout, .metricsAddress: return .process
        default: return .tunnel
        }
    }

    /// The option whose config key is `key` (the same as its flag without `--`).
    public init?(key: String) { self.init(rawValue: key) }

    /// How the user spells this option where `origin` says it came from:
    /// `--connect-timeout` on the command line, `connect-timeout` in a config
    /// file (`OptionSpelling`). ROUTE is the command line's positional argument.
    public func spelled(for origin: OptionOrigin) -> String {
        if self == .route && origin.spelling == .commandLine { return "ROUTE" }
        return origin.spelling.name(key)
    }

    /// The range check for a number of seconds: nil when `value` is fine,
    /// else the error, naming the option as `origin` spells it.
    public func check(seconds value: Double, from origin: OptionOrigin) -> ConfigError? {
        guard case .seconds(let range) = kind, !range.contains(value) else { return nil }
        return ConfigError(line: origin.line, message:
            "\(spelled(for: origin)) must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)) seconds, got \(Self.format(value))")
    }

    /// The range check for a whole number: nil when `value` is fine, else the error.
    public func check(integer value: Int, from origin: OptionOrigin) -> ConfigError? {
        guard case .integer(let range) = kind, !range.contains(value) else { return nil }
        return ConfigError(line: origin.line, message:
            "\(spelled(for: origin)) must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
    }

    /// Options that only mean something for one protocol's entries.
    public var onlyFor: TunnelProtocol? {
        switch self {
        case .udpIdleTimeout, .udpMaxSessions: return .udp
        default: return nil
        }
    }

    /// "3600", "0.001", "2.5": whole numbers without a trailing ".0".
    private static func format(_ value: Double) -> String {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// What a `[[tunnel]]` listens for: TCP connections (`uvtunnel`) or UDP datagrams (`uvtunnel udp`).
public enum TunnelProtocol: String, CaseIterable, Sendable {
    case tcp, udp
}

/// Where an entry's options were given: the command line or a config file.
public enum OptionOrigin: Equatable, Sendable {
    case commandLine
    /// A config file; `line` is where the value (or its `[[tunnel]]`) was written.
    case configFile(line: Int?)

    public var line: Int? {
        if case .configFile(let line) = self { return line }
        return nil
    }

    /// Flags or config keys, for library messages that name an option.
    public var spelling: OptionSpelling { self == .commandLine ? .commandLine : .configFile }
}
