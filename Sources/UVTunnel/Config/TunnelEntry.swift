/// One tunnel as the user defined it: from the command line, or from one
/// `[[tunnel]]` of a config file. Plain values only; checking them (routes,
/// files, TLS) happens when the entry is put to work.
public struct TunnelEntry: Equatable, Sendable {
    public var listen = "127.0.0.1:0"
    public var route = ""
    public var pomeriumURL: String?
    public var disableTLSVerification = false
    public var alternateCAPath: String?
    public var caCert: String?
    public var clientCert: String?
    public var clientKey: String?
    public var browserCommand: String?
    public var noBrowser = false
    public var serviceAccount: String?
    public var serviceAccountFile: String?
    public var egressProxy: String?
    public var connectTimeout: Double = 15
    public var authTimeout: Double = 180
    public var maxTunnelLifetime: Double?
    public var recheckInterval: Double?
    /// `--allow-from`: `CIDR[,CIDR…]`; local clients from elsewhere are turned away.
    public var allowFrom: String?
    /// `--multiplex`: tunnels as streams on shared HTTP/2 connections.
    public var multiplex = false
    /// `--max-streams-per-connection` (with `multiplex`).
    public var maxStreamsPerConnection = 100
    /// Where it was defined, for messages ("line 12"); nil on the command line.
    public var line: Int?

    public init() {}

    /// Checks the numbers every entry must respect; names the flag (or key) at fault.
    public func validate() throws(ConfigError) {
        func check(_ value: Double, _ name: String, _ range: ClosedRange<Double>) throws(ConfigError) {
            guard range.contains(value), value > 0 || range.lowerBound == 0 else {
                throw ConfigError(line: line, message: "\(name) must be between \(range.lowerBound) and \(range.upperBound) seconds, got \(value)")
            }
        }
        try check(connectTimeout, "connect-timeout", 0.001...3600)
        try check(authTimeout, "auth-timeout", 0.001...86400)
        if let maxTunnelLifetime { try check(maxTunnelLifetime, "max-tunnel-lifetime", 0.001...31_536_000) }
        if let recheckInterval { try check(recheckInterval, "recheck-interval", 1...86400) }
        guard (1...10_000).contains(maxStreamsPerConnection) else {
            throw ConfigError(line: line, message: "max-streams-per-connection must be between 1 and 10000, got \(maxStreamsPerConnection)")
        }
        if route.isEmpty { throw ConfigError(line: line, message: "route is missing; give host:port") }
        if serviceAccount != nil && serviceAccountFile != nil {
            throw ConfigError(line: line, message: "give service-account or service-account-file, not both")
        }
        if (clientCert == nil) != (clientKey == nil) {
            throw ConfigError(line: line, message: "client-cert and client-key must be given together")
        }
        _ = try allowedClients()
    }

    /// The networks of `allowFrom`; empty means every client is admitted.
    public func allowedClients() throws(ConfigError) -> [AddressRange] {
        guard let allowFrom else { return [] }
        do {
            return try AddressRange.parseList(allowFrom)
        } catch {
            throw ConfigError(line: line, message: "allow-from: \(error.message)")
        }
    }
}

/// A config problem, with the line when it came from a file.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int?
    public var message: String
    public init(line: Int?, message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { line.map { "line \($0): \(message)" } ?? message }
}
