import Logging
@testable import UVTunnel
import UVTunnelGateway

/// The bundled gateway on a test's event loop (self-signed TLS, token
/// "secret"), and tunnel options that reach `target` through it trusting
/// that certificate: the set-up of the one-loop tunnel tests (TCP and UDP).
struct LoopGatewayFixture {
    let gateway: GatewayServer
    let address: SocketAddress
    private let certificatePEM: String

    init(loop: EventLoop, on loopback: SocketAddress, logger: Logger) throws {
        let made = try CertificateFactory.makeSelfSigned()
        let gatewayTLS = try TLSContext.server(certificatePEM: made.certificatePEM, privateKeyPEM: made.privateKeyPEM)
        gateway = GatewayServer(loop: loop, options: GatewayOptions(tls: gatewayTLS, verifyToken: { token in
            token == "secret" ? .valid : .invalid("wrong")
        }), logger: logger)
        address = try gateway.listen(on: loopback)
        certificatePEM = made.certificatePEM
    }

    /// Options for a tunnel to `target` through this gateway.
    func tunnelOptions(to target: SocketAddress) throws -> TunnelOptions {
        var clientTLS = TLSClientOptions()
        clientTLS.extraCAPEM = certificatePEM
        let route = try Route.parse("127.0.0.1:\(target.port)", pomeriumURL: "https://127.0.0.1:\(address.port)")
        return TunnelOptions(route: route, tls: try TLSContext.client(clientTLS))
    }
}
