/// Which HTTP proxy, if any, carries a connection to a gateway (or to the
/// login endpoint and its redirects), decided per host as curl and Go do:
///
/// 1. `--egress-proxy URL` wins over the environment; `--egress-proxy ""`
///    means no proxy at all, whatever the environment says (curl's `-x ""`).
/// 2. Otherwise `https_proxy`/`HTTPS_PROXY` for TLS gateways and
///    `http_proxy`/`HTTP_PROXY` for plain http:// ones (the lower-case name
///    wins when both are set, as in curl; an empty value counts as unset).
///    `ALL_PROXY` is not read: it is often a SOCKS proxy, which uvtunnel
///    cannot use.
/// 3. `no_proxy`/`NO_PROXY` then exempts hosts (see NoProxyList); it applies
///    to `--egress-proxy` too, as curl's NO_PROXY applies to `-x`.
///
/// Both kinds of gateway are reached with CONNECT through the proxy: the
/// gateway itself speaks CONNECT, so a proxy must tunnel, not forward.
public struct EgressProxy: Sendable, Equatable {
    /// For TLS gateways (https://).
    public var forTLS: ProxyEndpoint?
    /// For plain-HTTP gateways (http://).
    public var forPlain: ProxyEndpoint?
    public var noProxy: NoProxyList
    /// What set the proxy, for the start-up line: "--egress-proxy", "HTTPS_PROXY"…
    public var origin: String?

    public static let direct = EgressProxy(forTLS: nil, forPlain: nil, noProxy: .empty, origin: nil)

    public init(forTLS: ProxyEndpoint?, forPlain: ProxyEndpoint?, noProxy: NoProxyList, origin: String?) {
        self.forTLS = forTLS
        self.forPlain = forPlain
        self.noProxy = noProxy
        self.origin = origin
    }

    /// The proxy for a connection to `host:port`, or nil to dial it directly.
    public func proxy(forHost host: String, port: UInt16, tls: Bool) -> ProxyEndpoint? {
        guard let proxy = tls ? forTLS : forPlain else { return nil }
        return noProxy.bypasses(host: host, port: port) ? nil : proxy
    }

    /// Reads the flag and the environment once, at start-up. A proxy URL that
    /// cannot be used is an error (not silently a direct connection, which
    /// a locked-down network would refuse with a less helpful message).
    public static func select(flag: String?, environment: [String: String],
                              spelling: OptionSpelling = .commandLine) throws(EgressProxyError) -> EgressProxy {
        let noProxy = NoProxyList(variable(["no_proxy", "NO_PROXY"], in: environment)?.value ?? "")
        if let flag {
            guard !flag.isEmpty else { return .direct }
            let proxy = try ProxyEndpoint.parse(flag, origin: spelling.name("egress-proxy"))
            return EgressProxy(forTLS: proxy, forPlain: proxy, noProxy: noProxy, origin: spelling.name("egress-proxy"))
        }
        let https = try endpoint(["https_proxy", "HTTPS_PROXY"], in: environment, spelling: spelling)
        let http = try endpoint(["http_proxy", "HTTP_PROXY"], in: environment, spelling: spelling)
        guard https != nil || http != nil else { return .direct }
        let origin = [https?.name, http?.name].compactMap { $0 }.joined(separator: ", ")
        return EgressProxy(forTLS: https?.proxy, forPlain: http?.proxy, noProxy: noProxy, origin: origin)
    }

    private static func endpoint(_ names: [String], in environment: [String: String],
                                 spelling: OptionSpelling) throws(EgressProxyError) -> (name: String, proxy: ProxyEndpoint)? {
        guard let (name, value) = variable(names, in: environment) else { return nil }
        do {
            return (name, try ProxyEndpoint.parse(value, origin: name))
        } catch {
            throw EgressProxyError(message: error.message + "; or set \(spelling.setting("egress-proxy", to: "\"\"")) to ignore \(name)")
        }
    }

    /// The first of `names` set to a non-empty value.
    private static func variable(_ names: [String], in environment: [String: String]) -> (name: String, value: String)? {
        for name in names {
            if let value = environment[name]?.trimmingSpaces, !value.isEmpty { return (name, value) }
        }
        return nil
    }
}

private extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}
