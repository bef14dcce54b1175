/// Why reaching a host (the gateway, or a URL's host for the sign-in's login
/// call) failed: the stage, and the party at fault by name. `description` is
/// the one printable line for the log; it names no command-line flag (the
/// CLI adds hints: see `FailureHint`).
public enum DialFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// DNS; `name` is "gateway gw.corp" or "egress proxy proxy.corp".
    case resolve(name: String, reason: String)
    /// TCP to every address failed; the last address tried and why.
    case connect(name: String, address: String, reason: String)
    /// The egress proxy answered our CONNECT with a status other than 2xx.
    case proxyRefused(ProxyRefusal)
    /// The CONNECT exchange with the egress proxy broke (I/O, or an answer
    /// that is not HTTP, or the proxy hung up before answering).
    case proxyExchange(String)
    /// TLS could not be set up or the handshake failed for another reason
    /// than the certificate; `peer` is "gateway gw:443 (through egress proxy p:3128)".
    case tlsHandshake(peer: String, reason: String)
    /// The peer's certificate did not verify (unknown CA, wrong name, expired).
    case certificate(peer: String, reason: String)

    public var description: String {
        switch self {
        case .resolve(let name, let reason): return "cannot resolve \(name): \(reason)"
        case .connect(let name, let address, let reason): return "cannot reach \(name) at \(address): \(reason)"
        case .proxyRefused(let refusal): return refusal.description
        case .proxyExchange(let message): return message
        case .tlsHandshake(let peer, let reason): return "\(peer): \(reason)"
        case .certificate(let peer, let reason): return "\(peer): TLS handshake failed: certificate verify failed: \(reason)"
        }
    }
}

/// An egress proxy's "no" to CONNECT, with what to do about the common ones.
public struct ProxyRefusal: Equatable, Sendable, CustomStringConvertible {
    public var proxy: String
    public var status: Int
    public var reasonPhrase: String
    /// What we asked for: "gw:443", and how messages name it ("gateway", "host").
    public var target: String
    public var targetRole: String
    public var sentCredentials: Bool

    /// "egress proxy p:3128 answered 407 "Proxy Authentication Required" to CONNECT gw:443; …"
    public var description: String {
        var message = "egress proxy \(proxy) answered \(status) \(PrintableText.quoted(reasonPhrase)) to CONNECT \(target)"
        switch status {
        case 407:
            message += sentCredentials
                ? "; it refused the user name and password in the proxy URL"
                : "; it wants a user name and password: give them in the proxy URL, http://USER:PASSWORD@\(proxy)"
        case 403:
            message += "; its rules do not allow CONNECT to \(target) (ask its administrator, or add the host to NO_PROXY if it is reachable directly)"
        case 502, 503, 504:
            message += "; the proxy could not reach the \(targetRole)"
        default:
            break
        }
        return message
    }
}
