import TOMLKit

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
/// Keys are the command-line flags without `--` (`TunnelOption`). Why TOML:
/// hand-written configs want comments and no quoting of keys. TOMLKit parses
/// the whole of TOML 1.0 and names the line of a syntax error; `TOMLKeyLines`
/// finds the line of a key whose value is wrong.
public struct TunnelConfigFile: Equatable, Sendable {
    public var tunnels: [TunnelEntry]
    public var drainTimeout: Double?
    public var metricsAddress: String?

    /// Larger files are refused before they are read: a config is a few KiB.
    public static let maxBytes = 1 << 20

    /// A value as the reader needs it, from TOMLKit's, with the line it is on.
    private struct Value {
        enum Kind {
            case string(String), integer(Int), float(Double), boolean(Bool), array([Kind]), other(String)
        }
        var kind: Kind
        var line: Int?
        /// Names the entry when the line is unknown ("[[tunnel]] 2 (listen "…")").
        var place: String?

        func error(_ message: String) -> ConfigError {
            ConfigError(line: line, message: line == nil ? place.map { "\($0): \(message)" } ?? message : message)
        }
    }

    public static func parse(_ text: String) throws(ConfigError) -> TunnelConfigFile {
        guard text.utf8.count <= maxBytes else {
            throw ConfigError(line: nil, message: "the file is over 1 MiB")
        }
        let document: TOMLTable
        do {
            document = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(line: error.source.begin.line, message: error.description)
        } catch {
            throw ConfigError(line: nil, message: "\(error)")
        }
        let lines = TOMLKeyLines(text)
        for header in lines.headers where !(header.isArray && header.name == "tunnel") {
            throw ConfigError(line: header.line, message: header.isArray
                ? "unknown table [[\(header.name)]]; use [[tunnel]]"
                : "only [[array]] tables are supported, e.g. [[tunnel]]")
        }
        var defaults = TunnelEntry()
        var config = TunnelConfigFile(tunnels: [])
        let rootKeys = document.keys.filter { $0 != "tunnel" }.sorted { (lines.root[$0] ?? .max) < (lines.root[$1] ?? .max) }
        for key in rootKeys {
            guard let raw = document[key] else { continue }
            let value = Value(kind: convert(raw), line: lines.root[key], place: nil)
            let option = try option(key, value)
            switch option.scope {
            case .tunnelTableOnly:
                throw value.error("\(key) belongs inside a [[tunnel]] table")
            case .process:
                try applyProcess(option, value, to: &config)
            case .tunnel:
                try apply(option, value, to: &defaults)
            }
        }
        let tables = try tunnelTables(document, lines)
        var listens: [String: String] = [:]
        for (index, (table, header)) in tables.enumerated() {
            var tunnel = defaults
            tunnel.origin = .configFile(line: header?.line)
            let listenText = table["listen"]?.string.map { " (listen \"\($0)\")" } ?? ""
            let place = "[[tunnel]] \(index + 1)\(listenText)"
            let tableError = { (message: String) -> ConfigError in
                Value(kind: .other(""), line: header?.line, place: place).error(message)
            }
            let keys = table.keys.sorted { (header?.keys[$0] ?? .max) < (header?.keys[$1] ?? .max) }
            for key in keys {
                guard let raw = table[key] else { continue }
                let value = Value(kind: convert(raw), line: header?.keys[key], place: place)
                let option = try option(key, value)
                guard option.scope != .process else {
                    throw value.error("\(key) applies to the whole process; put it before the first [[tunnel]]")
                }
                try apply(option, value, to: &tunnel)
            }
            // A key for the other protocol inside the table is a mistake worth a line;
            // a default before the first table applies only where it means something.
            for key in keys {
                guard let option = TunnelOption(key: key), let only = option.onlyFor, only != tunnel.protocol else { continue }
                throw Value(kind: .other(""), line: header?.keys[key], place: place)
                    .error("\(key) applies only to protocol = \"\(only.rawValue)\" entries; this one is \"\(tunnel.protocol.rawValue)\"")
            }
            guard table["listen"] != nil else {
                throw tableError("this [[tunnel]] has no listen address; add listen = \"127.0.0.1:PORT\"")
            }
            guard tunnel.listen != "-" else {
                throw Value(kind: .other(""), line: header?.keys["listen"], place: place)
                    .error("listen = \"-\" (stdin/stdout) cannot be used in a config file")
            }
            // A TCP and a UDP listener may share a port number (RDP's pair on 3389); two of one kind may not.
            let listenKey = "\(tunnel.protocol.rawValue) \(tunnel.listen)"
            if let other = listens[listenKey] {
                let kind = tunnel.protocol == .udp ? "UDP " : ""
                throw tableError("\(kind)listen \(tunnel.listen) is already used by the [[tunnel]] \(other)")
            }
            listens[listenKey] = header.map { "on line \($0.line)" } ?? "number \(index + 1)"
            do { try tunnel.validate() } catch { throw tableError(error.message) }
            config.tunnels.append(tunnel)
        }
        guard !config.tunnels.isEmpty else {
            throw ConfigError(line: nil, message: "no [[tunnel]] tables: nothing to serve")
        }
        return config
    }

    /// The `[[tunnel]]` tables in order, each with its header's lines when the
    /// scan found as many headers as TOMLKit found tables (it always should).
    private static func tunnelTables(_ document: TOMLTable, _ lines: TOMLKeyLines) throws(ConfigError) -> [(TOMLTable, TOMLKeyLines.Header?)] {
        guard let raw = document["tunnel"] else { return [] }
        guard let array = raw.array else {
            throw ConfigError(line: lines.root["tunnel"], message: "only [[array]] tables are supported, e.g. [[tunnel]]")
        }
        var tables: [TOMLTable] = []
        for element in array {
            guard let table = element.table else {
                throw ConfigError(line: lines.root["tunnel"], message: "only [[array]] tables are supported, e.g. [[tunnel]]")
            }
            tables.append(table)
        }
        let headers = lines.arrayTables(named: "tunnel")
        let matched = headers.count == tables.count
        return tables.enumerated().map { ($0.element, matched ? headers[$0.offset] : nil) }
    }

    private static func convert(_ value: TOMLValueConvertible) -> Value.Kind {
        switch value.type {
        case .string: return value.string.map { .string($0) } ?? .other("a string")
        case .int: return value.int.map { .integer($0) } ?? .other("an integer")
        case .double: return value.double.map { .float($0) } ?? .other("a number")
        case .bool: return value.bool.map { .boolean($0) } ?? .other("a boolean")
        case .array: return .array((value.array.map { Array($0) } ?? []).map { convert($0) })
        case .table: return .other("a table")
        default: return .other("a date or time")
        }
    }

    private static func option(_ key: String, _ value: Value) throws(ConfigError) -> TunnelOption {
        guard let option = TunnelOption(key: key) else {
            throw value.error("unknown key \"\(key)\"")
        }
        return option
    }

    private static func applyProcess(_ option: TunnelOption, _ value: Value, to config: inout TunnelConfigFile) throws(ConfigError) {
        switch option {
        case .drainTimeout: config.drainTimeout = try seconds(option, value)
        case .metricsAddress: config.metricsAddress = try string(option, value)
        default: preconditionFailure("\(option) is not a process option")
        }
    }

    private static func apply(_ option: TunnelOption, _ value: Value, to tunnel: inout TunnelEntry) throws(ConfigError) {
        switch option {
        case .listen: tunnel.listen = try string(option, value)
        case .route: tunnel.route = try string(option, value)
        case .pomeriumURL: tunnel.pomeriumURL = try string(option, value)
        case .disableTLSVerification: tunnel.disableTLSVerification = try boolean(option, value)
        case .alternateCAPath: tunnel.alternateCAPath = try string(option, value)
        case .caCert: tunnel.caCert = try string(option, value)
        case .clientCert: tunnel.clientCert = try string(option, value)
        case .clientKey: tunnel.clientKey = try string(option, value)
        case .browserCommand: tunnel.browserCommand = try string(option, value)
        case .noBrowser: tunnel.noBrowser = try boolean(option, value)
        case .serviceAccount: tunnel.serviceAccount = try string(option, value)
        case .serviceAccountFile: tunnel.serviceAccountFile = try string(option, value)
        case .egressProxy: tunnel.egressProxy = try string(option, value)
        case .connectTimeout: tunnel.connectTimeout = try seconds(option, value)
        case .authTimeout: tunnel.authTimeout = try seconds(option, value)
        case .maxTunnelLifetime: tunnel.maxTunnelLifetime = try seconds(option, value)
        case .recheckInterval: tunnel.recheckInterval = try seconds(option, value)
        case .allowFrom: tunnel.allowFrom = try stringList(option, value)
        case .multiplex: tunnel.multiplex = try boolean(option, value)
        case .maxStreamsPerConnection: tunnel.maxStreamsPerConnection = try integer(option, value)
        case .earlyData: tunnel.earlyData = try boolean(option, value)
        case .protocol: tunnel.protocol = try choice(option, value, TunnelProtocol.init(rawValue:))
        case .udpIdleTimeout: tunnel.udpIdleTimeout = try seconds(option, value)
        case .udpMaxSessions: tunnel.udpMaxSessions = try integer(option, value)
        case .drainTimeout, .metricsAddress: preconditionFailure("\(option) is a process option")
        }
    }

    private static func string(_ option: TunnelOption, _ value: Value) throws(ConfigError) -> String {
        guard case .string(let text) = value.kind else { throw value.error("\(option.key) must be a string in quotes") }
        return text
    }

    /// `"a,b"` or `["a", "b"]`, kept as the command line's comma-separated form.
    private static func stringList(_ option: TunnelOption, _ value: Value) throws(ConfigError) -> String {
        let key = option.key
        switch value.kind {
        case .string(let text):
            return text
        case .array(let values):
            var items: [String] = []
            for element in values {
                guard case .string(let item) = element else { throw value.error("\(key) must be a string or an array of strings") }
                items.append(item)
            }
            guard !items.isEmpty else { throw value.error("\(key) is an empty array; leave it out to admit every client") }
            return items.joined(separator: ",")
        default:
            throw value.error("\(key) must be a string or an array of strings")
        }
    }

    private static func choice<T>(_ option: TunnelOption, _ value: Value, _ make: (String) -> T?) throws(ConfigError) -> T {
        guard case .choice(let words) = option.kind else { preconditionFailure("\(option) is not a choice") }
        let expected = words.map { "\"\($0)\"" }.joined(separator: " or ")
        guard case .string(let text) = value.kind else { throw value.error("\(option.key) must be \(expected)") }
        guard let chosen = make(text) else { throw value.error("\(option.key) must be \(expected), got \(PrintableText.quoted(text))") }
        return chosen
    }

    private static func integer(_ option: TunnelOption, _ value: Value) throws(ConfigError) -> Int {
        guard case .integer(let number) = value.kind else { throw value.error("\(option.key) must be a whole number") }
        if let error = option.check(integer: number, from: .configFile(line: value.line)) { throw value.error(error.message) }
        return number
    }

    private static func boolean(_ option: TunnelOption, _ value: Value) throws(ConfigError) -> Bool {
        guard case .boolean(let flag) = value.kind else { throw value.error("\(option.key) must be true or false") }
        return flag
    }

    /// A number of seconds, checked against the option's range on its own line.
    private static func seconds(_ option: TunnelOption, _ value: Value) throws(ConfigError) -> Double {
        let number: Double
        switch value.kind {
        case .integer(let whole): number = Double(whole)
        case .float(let real): number = real
        case .string(let text):
            guard let parsed = DurationText.seconds(text) else {
                throw value.error("\(option.key) must be \(DurationText.expected), got \(PrintableText.quoted(text))")
            }
            number = parsed
        default: throw value.error("\(option.key) must be \(DurationText.expected)")
        }
        if let error = option.check(seconds: number, from: .configFile(line: value.line)) {
            throw value.error(error.message)
        }
        return number
    }
}
