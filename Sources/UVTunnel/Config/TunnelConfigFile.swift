/// `uvtunnel --config FILE`: many tunnels served by one process.
///
///     # keys before the first [[tunnel]] are defaults for every tunnel
///     pomerium-url = "https://gw.corp.example"
///     drain-timeout = 10
///
///     [[tunnel]]
///     listen = "127.0.0.1:3389"
///     route = "rdp.corp.example:3389"
///
///     [[tunnel]]
///     listen = "127.0.0.1:5432"
///     route = "db.corp.example:5432"
///     service-account-file = "/etc/uvtunnel/db.jwt"
///
/// Keys are the command-line flags without `--`. Why TOML: hand-written
/// configs want comments and no quoting of keys, and a tiny subset parsed
/// here can name the line of every mistake.
public struct TunnelConfigFile: Equatable, Sendable {
    public var tunnels: [TunnelEntry]
    public var drainTimeout: Double?
    public var metricsAddress: String?

    static let globalOnly: Set<String> = ["drain-timeout", "metrics-addr"]

    public static func parse(_ text: String) throws(ConfigError) -> TunnelConfigFile {
        let document: TOMLLite.Document
        do {
            document = try TOMLLite.parse(text)
        } catch {
            throw ConfigError(line: error.line, message: error.reason)
        }
        var defaults = TunnelEntry()
        for (key, entry) in document.root where !globalOnly.contains(key) {
            guard key != "listen" && key != "route" else {
                throw ConfigError(line: entry.line, message: "\(key) belongs inside a [[tunnel]] table")
            }
            try apply(key, entry, to: &defaults)
        }
        var config = TunnelConfigFile(tunnels: [])
        if let drain = document.root["drain-timeout"] {
            config.drainTimeout = try number(drain, "drain-timeout")
        }
        if let metrics = document.root["metrics-addr"] {
            config.metricsAddress = try string(metrics, "metrics-addr")
        }
        var listens: [String: Int] = [:]
        for table in document.tables {
            guard table.name == "tunnel" else {
                throw ConfigError(line: table.line, message: "unknown table [[\(table.name)]]; use [[tunnel]]")
            }
            var tunnel = defaults
            tunnel.line = table.line
            for (key, entry) in table.keys {
                guard !globalOnly.contains(key) else {
                    throw ConfigError(line: entry.line, message: "\(key) applies to the whole process; put it before the first [[tunnel]]")
                }
                try apply(key, entry, to: &tunnel)
            }
            guard table.keys["listen"] != nil else {
                throw ConfigError(line: table.line, message: "this [[tunnel]] has no listen address; add listen = \"127.0.0.1:PORT\"")
            }
            guard tunnel.listen != "-" else {
                throw ConfigError(line: table.keys["listen"]?.line, message: "listen = \"-\" (stdin/stdout) cannot be used in a config file")
            }
            if let other = listens[tunnel.listen] {
                throw ConfigError(line: table.line, message: "listen \(tunnel.listen) is already used by the [[tunnel]] on line \(other)")
            }
            listens[tunnel.listen] = table.line
            try tunnel.validate()
            config.tunnels.append(tunnel)
        }
        guard !config.tunnels.isEmpty else {
            throw ConfigError(line: nil, message: "no [[tunnel]] tables: nothing to serve")
        }
        return config
    }

    private static func apply(_ key: String, _ entry: TOMLLite.Entry, to tunnel: inout TunnelEntry) throws(ConfigError) {
        switch key {
        case "listen": tunnel.listen = try string(entry, key)
        case "route": tunnel.route = try string(entry, key)
        case "pomerium-url": tunnel.pomeriumURL = try string(entry, key)
        case "disable-tls-verification": tunnel.disableTLSVerification = try boolean(entry, key)
        case "alternate-ca-path": tunnel.alternateCAPath = try string(entry, key)
        case "ca-cert": tunnel.caCert = try string(entry, key)
        case "client-cert": tunnel.clientCert = try string(entry, key)
        case "client-key": tunnel.clientKey = try string(entry, key)
        case "browser-cmd": tunnel.browserCommand = try string(entry, key)
        case "no-browser": tunnel.noBrowser = try boolean(entry, key)
        case "service-account": tunnel.serviceAccount = try string(entry, key)
        case "service-account-file": tunnel.serviceAccountFile = try string(entry, key)
        case "egress-proxy": tunnel.egressProxy = try string(entry, key)
        case "connect-timeout": tunnel.connectTimeout = try number(entry, key)
        case "auth-timeout": tunnel.authTimeout = try number(entry, key)
        case "max-tunnel-lifetime": tunnel.maxTunnelLifetime = try number(entry, key)
        case "recheck-interval": tunnel.recheckInterval = try number(entry, key)
        case "allow-from": tunnel.allowFrom = try stringList(entry, key)
        case "multiplex": tunnel.multiplex = try boolean(entry, key)
        default:
            throw ConfigError(line: entry.line, message: "unknown key \"\(key)\"")
        }
    }

    private static func string(_ entry: TOMLLite.Entry, _ key: String) throws(ConfigError) -> String {
        guard case .string(let value) = entry.value else {
            throw ConfigError(line: entry.line, message: "\(key) must be a string in quotes")
        }
        return value
    }

    /// `"a,b"` or `["a", "b"]`, kept as the command line's comma-separated form.
    private static func stringList(_ entry: TOMLLite.Entry, _ key: String) throws(ConfigError) -> String {
        switch entry.value {
        case .string(let value):
            return value
        case .array(let values):
            var items: [String] = []
            for value in values {
                guard case .string(let item) = value else {
                    throw ConfigError(line: entry.line, message: "\(key) must be a string or an array of strings")
                }
                items.append(item)
            }
            guard !items.isEmpty else {
                throw ConfigError(line: entry.line, message: "\(key) is an empty array; leave it out to admit every client")
            }
            return items.joined(separator: ",")
        default:
            throw ConfigError(line: entry.line, message: "\(key) must be a string or an array of strings")
        }
    }

    private static func boolean(_ entry: TOMLLite.Entry, _ key: String) throws(ConfigError) -> Bool {
        guard case .boolean(let value) = entry.value else {
            throw ConfigError(line: entry.line, message: "\(key) must be true or false")
        }
        return value
    }

    private static func number(_ entry: TOMLLite.Entry, _ key: String) throws(ConfigError) -> Double {
        switch entry.value {
        case .integer(let value): return Double(value)
        case .float(let value): return value
        default: throw ConfigError(line: entry.line, message: "\(key) must be a number of seconds")
        }
    }
}
