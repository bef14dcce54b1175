import Logging

/// `--recheck-interval`'s question to the gateway: is our token still
/// admitted for the route? One request through the route's own connector (a
/// CONNECT for tcp, a connect-udp request for udp, a stream when multiplexed)
/// that hangs up as soon as the answer is in. At most one at a time.
final class GatewayProbe {
    private var attempt: ConnectAttempt?

    /// `completion` gets the status, or nil when there was no answer: network
    /// trouble, or no token at hand. A probe never waits for a sign-in; when
    /// one is running, or the token has expired (which starts one, as a new
    /// tunnel would), it skips this round rather than close tunnels over a
    /// token that is being renewed.
    func start(connector: GatewayConnector, destination: String, tokens: TokenSource, logger: Logger,
               completion: @escaping (Int?) -> Void) {
        guard attempt == nil else { return }
        guard case .now(let token) = tokens.token(waiter: { _ in }) else { return completion(nil) }
        attempt = connector.open(destination: destination, token: token) { [weak self] result in
            self?.attempt = nil
            logger.debug("recheck probe: \(result.map { _ in "200 tunnel open" })")
            switch result {
            case .success(let stream):
                stream.close()
                completion(200)
            case .failure(.answered(let status)): completion(status)
            case .failure: completion(nil)
            }
        }
    }

    func cancel() {
        attempt?.cancel()
        attempt = nil
    }
}

/// A listener whose open tunnels (or UDP sessions) `--recheck-interval` checks.
public protocol RecheckedServer: AnyObject {
    var openTunnelCount: Int { get }
    var route: Route { get }
    /// Asks the gateway whether the token is still admitted (see GatewayProbe).
    func probeGateway(completion: @escaping (Int?) -> Void)
    /// Closes every open tunnel now, saying why.
    func closeAll(reason: String)
}
