/// `--multiplex` for `uvtunnel udp`: a UDP session is an extended CONNECT
/// stream (`:protocol connect-udp`, RFC 9298 over RFC 8441) on the shared
/// connection when the gateway announced SETTINGS_ENABLE_CONNECT_PROTOCOL;
/// when it did not, the session gets its own HTTP/1.1 connection (the
/// connect-udp upgrade), while the gateway's tcp tunnels stay multiplexed.
extension HTTP2Connector: UDPGatewayConnector {
    public func openUDP(destination: String, token: String?,
                        completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        openUDP(destination: destination, token: token, timeoutMilliseconds: options.connectTimeoutMilliseconds,
                completion: completion)
    }

    /// As `openUDP`, within `timeoutMilliseconds` (a route's own --connect-timeout).
    func openUDP(destination: String, token: String?, timeoutMilliseconds: UInt64,
                 completion: @escaping (Result<ByteStream, TunnelFailure>) -> Void) -> ConnectAttempt {
        let attempt = HTTP2ConnectAttempt(loop: loop, connector: self, destination: destination, token: token,
                                          timeoutMilliseconds: timeoutMilliseconds, isUDP: true, completion: completion)
        attempt.starting { place(attempt) }
        return attempt
    }

    /// The HTTP/1.1 way for UDP sessions of a gateway whose h2 connection
    /// takes no extended CONNECT.
    func udpOverHTTP1() -> HTTP1Connector {
        noteUDPWay(extendedConnect: false)
        if let udpFallback { return udpFallback }
        let made = HTTP1Connector(loop: loop, options: options, logger: logger)
        udpFallback = made
        return made
    }

    /// One info line per gateway saying which way its UDP sessions go (again only if that changes).
    func noteUDPWay(extendedConnect: Bool) {
        guard udpWayLogged != extendedConnect else { return }
        udpWayLogged = extendedConnect
        if extendedConnect {
            logger.info("UDP sessions through \(gatewayName) use HTTP/2 streams (extended CONNECT, connect-udp) on the shared connections")
        } else {
            logger.info("UDP sessions through \(gatewayName) use HTTP/1.1, one gateway connection each: its HTTP/2 connection did not announce SETTINGS_ENABLE_CONNECT_PROTOCOL")
        }
    }
}
