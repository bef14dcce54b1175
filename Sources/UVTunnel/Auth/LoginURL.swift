/// The address of the gateway's programmatic-login endpoint (SPEC "Sign-in"
/// step 2), whose text/plain answer is the URL to open in the browser.
public enum LoginURL {
    /// `<scheme>://<gateway host>[:port]/.pomerium/api/v1/login?pomerium_redirect_uri=http%3A%2F%2F127.0.0.1%3A<port>`.
    /// The port is left out when it is the scheme's default, as pomerium-cli
    /// writes it, so the gateway sees the same Host it expects from a browser.
    /// The redirect URI has no trailing "/", also as pomerium-cli sends it.
    public static func make(route: Route, callbackPort: UInt16) -> HTTPURL {
        let scheme = route.useTLS ? "https" : "http"
        let port: UInt16? = route.gatewayPort == HTTPURL.defaultPort(scheme) ? nil : route.gatewayPort
        let redirect = PercentEncoding.encodeQueryComponent(callbackURI(port: callbackPort))
        return HTTPURL(scheme: scheme, host: route.gatewayHost, port: port,
                       pathAndQuery: "\(path)?pomerium_redirect_uri=\(redirect)")
    }

    public static let path = "/.pomerium/api/v1/login"

    /// Where the browser is sent back to: the local callback listener.
    public static func callbackURI(port: UInt16) -> String {
        "http://127.0.0.1:\(port)"
    }
}
