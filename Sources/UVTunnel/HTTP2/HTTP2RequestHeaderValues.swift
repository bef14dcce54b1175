/// The `authorization` and `user-agent` values a connection's CONNECT
/// requests send, cleaned once per token and user agent rather than once
/// per stream: every stream of a connection sends the same ones, and
/// filtering a JWT byte by byte was a twentieth of the client's
/// instructions per `--multiplex` tunnel.
struct HTTP2RequestHeaderValues {
    private var token: String?
    private var userAgent: String?
    private var values: (authorization: String?, userAgent: String)?

    mutating func values(token: String?, userAgent: String) -> (authorization: String?, userAgent: String) {
        if let values, token == self.token, userAgent == self.userAgent { return values }
        let fresh = (authorization: token.flatMap(ConnectRequest.authorizationValue(pomeriumToken:)),
                     userAgent: ConnectRequest.headerValue(userAgent: userAgent))
        (self.token, self.userAgent, values) = (token, userAgent, fresh)
        return fresh
    }
}
