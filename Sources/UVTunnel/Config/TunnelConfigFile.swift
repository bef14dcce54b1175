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

    public static func parse(_ text: String) throws(ConfigError) -> TunnelConfigFile {
        let document: TOMLLite.Document
        do {
            document = try TOMLLite.parse(text)
        } catch {
            throw ConfigError(line: error.line, message: error.reason)
        }
        var defaults = TunnelEntry()
        var config = TunnelConfigFile(tunnels: [])
        for (key, entry) in document.root.sorted(by: { $0.value.line < $1.value.line }) {
            let option = try option(key, entry)
            switch option.scope {
            case .tunnelTableOnly:
                throw ConfigError(line: entry.line, message: "\(key) belongs inside a [[tunnel]] table")
            case .process:
                try applyProcess(option, entry, to: &config)
            case .tunnel:
                try apply(option, entry, to: &defaults)
            }
        }
        var listens: [String: Int] = [:]
        for table in document.tables {
            guard table.name == "tunnel" else {
                throw ConfigError(line: table.line, message: "unknown table [[\(table.name)]]; use [[tunnel]]")
            }
            var tunnel = defaults
            tunnel.line = table.line
            for (key, entry) in table.keys.sorted(by: { $0.value.line < $1.value.line }) {
                let option = try option(key, entry)
                guard option.scope != .process else {
                    throw ConfigError(line: entry.line, message: "\(key) applies to the whole process; put it before the first [[tunnel]]")
                }
                try apply(option, entry, to: &tunnel)
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

    private static func option(_ key: String, _ entry: TOMLLite.Entry) throws(ConfigError) -> TunnelOption {
        guard let option = TunnelOption(key: key) else {
            throw ConfigError(line: entry.line, message: "unknown key \"\(key)\"")
        }
        return option
    }

    private static func applyProcess(_ option: TunnelOption, _ entry: TOMLLite.Entry, to config: inout TunnelConfigFile) throws(ConfigError) {
        switch option {
        case .drainTimeout: config.drainTimeout = try seconds(option, entry)
        case .metricsAddress: config.metricsAddress = try string(option, entry)
        default: preconditionFailure("\(option) is not a process option")
        }
    }

    private static func apply(_ option: TunnelOption, _ entry: TOMLLite.Entry, to tunnel: inout TunnelEntry) throws(ConfigError) {
        switch option {
        case .listen: tunnel.listen = try string(option, entry)
        case .route: tunnel.route = try string(option, entry)
        case .pomeriumURL: tunnel.pomeriumURL = try string(option, entry)
        case .disableTLSVerification: tunnel.disableTLSVerification = try boolean(option, entry)
        case .alternateCAPath: tunnel.alternateCAPath = try string(option, entry)
        case .caCert: tunnel.caCert = try string(option, entry)
        case .clientCert: tunnel.clientCert = try string(option, entry)
        case .clientKey: tunnel.clientKey = try string(option, entry)
        case .browserCommand: tunnel.browserCommand = try string(option, entry)
        case .noBrowser: tunnel.noBrowser = try boolean(option, entry)
        case .serviceAccount: tunnel.serviceAccount = try string(option, entry)
        case .serviceAccountFile: tunnel.serviceAccountFile = try string(option, entry)
        case .egressProxy: tunnel.egressProxy = try string(option, entry)
        case .connectTimeout: tunnel.connectTimeout = try seconds(option, entry)
        case .authTimeout: tunnel.authTimeout = try seconds(option, entry)
        case .maxTunnelLifetime: tunnel.maxTunnelLifetime = try seconds(option, entry)
        case .recheckInterval: tunnel.recheckInterval = try seconds(option, entry)
        case .allowFrom: tunnel.allowFrom = try stringList(option, entry)
        case .drainTimeout, .metricsAddress: preconditionFailure("\(option) is a process option")
        }
    }

    private static func string(_ option: TunnelOption, _ entry: TOMLLite.Entry) throws(ConfigError) -> String {
        guard case .string(let value) = entry.value else {
            throw ConfigError(line: entry.line, message: "\(option.key) must be a string in quotes")
        }
        return value
    }

    /// `"a,b"` or `["a", "b"]`, kept as the command line's comma-separated form.
    private static func stringList(_ option: TunnelOption, _ entry: TOMLLite.Entry) throws(ConfigError) -> String {
        let key = option.key
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

    private static func boolean(_ option: TunnelOption, _ entry: TOMLLite.Entry) throws(ConfigError) -> Bool {
        guard case .boolean(let value) = entry.value else {
            throw ConfigError(line: entry.line, message: "\(option.key) must be true or false")
        }
        return value
    }

    /// A number of seconds, checked against the option's range on its own line.
    private static func seconds(_ option: TunnelOption, _ entry: TOMLLite.Entry) throws(ConfigError) -> Double {
        let value: Double
        switch entry.value {
        case .integer(let number): value = Double(number)
        case .float(let number): value = number
        default: throw ConfigError(line: entry.line, message: "\(option.key) must be a number of seconds")
        }
        if let error = option.check(seconds: value, from: .configFile(line: entry.line)) { throw error }
        return value
    }
}
