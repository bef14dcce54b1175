import UVTunnel

/// How a failure's hint reads for this user: with the flags they typed, or
/// with the keys of their config file (a config-file user never typed a flag).
enum FailureHintText {
    static func hints(fromConfigFile: Bool) -> FailureHints {
        { hint in text(hint, fromConfigFile: fromConfigFile) }
    }

    static func text(_ hint: FailureHint, fromConfigFile: Bool) -> String {
        /// "--connect-timeout", or "connect-timeout in the config file".
        func option(_ key: String) -> String { fromConfigFile ? "\(key) in the config file" : "--\(key)" }
        switch hint {
        case .trustCA:
            return fromConfigFile
                ? "trust its CA with alternate-ca-path = \"FILE\" in the config file, or, only for testing, disable-tls-verification = true"
                : "trust its CA with --alternate-ca-path FILE, or, only for testing, --disable-tls-verification"
        case .connectTimeout: return "raise \(option("connect-timeout"))"
        case .maxLifetime: return option("max-tunnel-lifetime")
        case .drainTimeout: return option("drain-timeout")
        case .authTimeout: return "raise \(option("auth-timeout")) if signing in takes longer"
        case .serviceAccount:
            return fromConfigFile ? "check service-account or service-account-file in the config file"
                                  : "check --service-account or --service-account-file"
        }
    }
}
