import UVTunnel

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
            return "trust its CA with \(spelling.setting(TunnelOption.alternateCAPath.key, to: spelling == .commandLine ? "FILE" : "\"FILE\"")), "
                + "or, only for testing, \(spelling == .commandLine ? "--disable-tls-verification" : "disable-tls-verification = true")"
        case .connectTimeout: return "raise \(option(TunnelOption.connectTimeout.key))"
        case .maxLifetime: return option(TunnelOption.maxTunnelLifetime.key)
        case .drainTimeout: return option(TunnelOption.drainTimeout.key)
        case .authTimeout: return "raise \(option(TunnelOption.authTimeout.key)) if signing in takes longer"
        case .serviceAccount:
            return "check \(spelling.name(TunnelOption.serviceAccount.key)) or \(spelling.name(TunnelOption.serviceAccountFile.key))"
                + (spelling == .commandLine ? "" : " in the config file")
        }
    }
}
