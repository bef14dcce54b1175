/// How the user wrote their options: flags on the command line, or keys in a
/// config file. Library messages that must name an option ask this, so a
/// config-file user is never told about a flag they never typed.
public enum OptionSpelling: Sendable, Equatable {
    case commandLine, configFile

    /// "--alternate-ca-path", or "alternate-ca-path".
    public func name(_ key: String) -> String { self == .commandLine ? "--\(key)" : key }

    /// How to set it: "--egress-proxy \"\"", or "egress-proxy = \"\" in the config file".
    public func setting(_ key: String, to value: String) -> String {
        self == .commandLine ? "--\(key) \(value)" : "\(key) = \(value) in the config file"
    }
}
