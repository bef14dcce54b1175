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
    /// `protocol`: TCP connections, or UDP datagrams (a session per client address).
    public var `protocol` = TunnelProtocol.tcp
    /// `--udp-idle-timeout`: a UDP session with no datagram either way for this long ends.
    public var udpIdleTimeout: Double = 120
    /// `--udp-max-sessions`: UDP client addresses served at once by this entry's listener.
    public var udpMaxSessions = 1_000
    /// `--max-streams-per-connection` (with `multiplex`): streams per gateway connection at most.
    public var maxStreamsPerConnection = 100
    /// `early-data` (with `multiplex`; `--no-early-data` turns it off): the
    /// local client's first bytes go as DATA right behind the CONNECT's
    /// HEADERS, before the answer. Off for a gateway that drops such DATA.
    public var earlyData = true
    /// Where it was defined: the command line, or a config file (and its line).
    public var origin: OptionOrigin = .commandLine
    /// How its options are named in messages: flags, or config keys.
    public var spelling: OptionSpelling { origin.spelling }
    /// Its line in a config file, for messages ("line 12"); nil on the command line.
    public var line: Int? {
        get { origin.line }
        set { origin = newValue.map { .configFile(line: $0) } ?? .commandLine }
    }

    public init() {}

    /// Checks what every entry must respect (ranges from `TunnelOption`, and
    /// options that go together); names the flag or key at fault.
    public func validate() throws(ConfigError) {
        let origin = self.origin
        let seconds: [(TunnelOption, Double?)] = [
            (.connectTimeout, connectTimeout), (.authTimeout, authTimeout),
            (.maxTunnelLifetime, maxTunnelLifetime), (.recheckInterval, recheckInterval), (.udpIdleTimeout, udpIdleTimeout),
        ]
        for case let (option, value?) in seconds {
            if let error = option.check(seconds: value, from: origin) { throw error }
        }
        if let error = TunnelOption.udpMaxSessions.check(integer: udpMaxSessions, from: origin) { throw error }
        if let error = TunnelOption.maxStreamsPerConnection.check(integer: maxStreamsPerConnection, from: origin) { throw error }
        if `protocol` == .udp {
            if listen == "-" {
                throw ConfigError(line: line, message: "\(TunnelOption.listen.spelled(for: origin)) - is not supported for UDP (datagrams need a UDP socket); give an address such as 127.0.0.1:5353")
            }
        }
        if route.isEmpty {
            throw ConfigError(line: line, message: "\(TunnelOption.route.spelled(for: origin)) is missing; give host:port")
        }
        if serviceAccount != nil && serviceAccountFile != nil {
            throw ConfigError(line: line, message: "give \(TunnelOption.serviceAccount.spelled(for: origin)) or \(TunnelOption.serviceAccountFile.spelled(for: origin)), not both")
        }
        if (clientCert == nil) != (clientKey == nil) {
            throw ConfigError(line: line, message: "\(TunnelOption.clientCert.spelled(for: origin)) and \(TunnelOption.clientKey.spelled(for: origin)) must be given together")
        }
        _ = try allowedClients()
    }

    /// The networks of `allowFrom`; empty means every client is admitted.
    public func allowedClients() throws(ConfigError) -> [AddressRange] {
        guard let allowFrom else { return [] }
        do {
            return try AddressRange.parseList(allowFrom)
        } catch {
            throw ConfigError(line: line, message: "\(TunnelOption.allowFrom.spelled(for: origin)): \(error.message)")
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
