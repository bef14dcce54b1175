import Foundation
import Logging
import UVTunnel

extension PreparedEntry {
    /// `--egress-proxy` (or the entry's `egress-proxy` key), else HTTPS_PROXY/
    /// HTTP_PROXY and NO_PROXY from the environment (EgressProxy says which
    /// wins). A proxy URL uvtunnel cannot use is a usage error naming the flag
    /// or variable. Logs one line saying whether the gateway is reached
    /// through a proxy: one picked up from the environment surprises less.
    static func egressProxy(_ entry: TunnelEntry, route: Route, logger: Logger) throws(Failure) -> EgressProxy {
        let selection: EgressProxy
        do {
            selection = try EgressProxy.select(flag: entry.egressProxy, environment: ProcessInfo.processInfo.environment,
                                               spelling: entry.spelling)
        } catch {
            throw Failure(usage: true, description: error.message)
        }
        if let proxy = selection.proxy(forHost: route.gatewayHost, port: route.gatewayPort, tls: route.useTLS) {
            logger.info("reaching \(route.gatewayAuthority) through egress proxy \(proxy.authority) (from \(selection.origin ?? "?"))")
        } else if (route.useTLS ? selection.forTLS : selection.forPlain) != nil {
            logger.info("reaching \(route.gatewayAuthority) directly: NO_PROXY exempts it from the egress proxy (\(selection.origin ?? "?"))")
        }
        return selection
    }
}
