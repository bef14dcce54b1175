import UVTunnel

extension TunnelEntry {
    /// A config-file entry knows its line; one from the command line does not.
    var spelling: OptionSpelling { line == nil ? .commandLine : .configFile }
}

/// How a failure's hint reads for this user: with the flags they typed, or
/// with the keys of their config file (a config-file user never typed a flag).
enum FailureHintText {
    static func hints(_ spelling: OptionSpelling) -> FailureHints {
        { hint in text(hint, spelling) }
    }

    static func text(_ hint: FailureHint, _ spelling: OptionSpelling) -> String {
        /// "--connect-timeout", or "connect-timeout in the config file".
        func option(_ key: String) -> String { spelling == .commandLine ? "--\(key)" : "\(key) in the config file" }
        switch hint {
        case .trustCA:
            return "trust its CA with \(spelling.setting("alternate-ca-path", to: spelling == .commandLine ? "FILE" : "\"FILE\"")), "
                + "or, only for testing, \(spelling == .commandLine ? "--disable-tls-verification" : "disable-tls-verification = true")"
        case .connectTimeout: return "raise \(option("connect-timeout"))"
        case .maxLifetime: return option("max-tunnel-lifetime")
        case .drainTimeout: return option("drain-timeout")
        case .authTimeout: return "raise \(option("auth-timeout")) if signing in takes longer"
        case .serviceAccount:
            return "check \(spelling.name("service-account")) or \(spelling.name("service-account-file"))"
                + (spelling == .commandLine ? "" : " in the config file")
        }
    }
}
