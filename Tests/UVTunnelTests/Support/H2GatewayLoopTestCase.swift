import XCTest
@testable import UVTunnel

/// The set-up the HTTP2Connector tests share: an event loop with an
/// `H2TLSGateway` on it (made in setUp unless `startsGateway` is false; a
/// test may replace it), both closed after each test with the check that
/// every handle closed and every buffer came back.
class H2GatewayLoopTestCase: XCTestCase {
    var loop: EventLoop!
    var gateway: H2TLSGateway!
    /// False: each test makes the gateway it needs.
    var startsGateway: Bool { true }

    override func setUpWithError() throws {
        loop = try EventLoop()
        if startsGateway { gateway = try H2TLSGateway(loop: loop) }
    }

    override func tearDown() {
        gateway?.close()
        gateway = nil
        loop?.assertEverythingReturnedAndClose()
        loop = nil
    }

    func spin(_ what: String, file: StaticString = #filePath, line: UInt = #line, until condition: () -> Bool) {
        loop.spin(what, seconds: 10, file: file, line: line, until: condition)
    }

    /// TLS client options that trust the gateway's self-signed certificate.
    func gatewayTLSOptions() -> TLSClientOptions {
        var client = TLSClientOptions()
        client.extraCAPEM = gateway.certificatePEM
        return client
    }

    /// Tunnel options for `destination` through the gateway, trusting it
    /// (TLS without ALPN: the route's own context); the default connect
    /// timeout unless one is given.
    func gatewayOptions(to destination: String, connectTimeoutMilliseconds: UInt64? = nil) throws -> TunnelOptions {
        let route = try Route.parse(destination, pomeriumURL: "https://127.0.0.1:\(gateway.address.port)")
        var options = TunnelOptions(route: route, tls: try TLSContext.client(gatewayTLSOptions()))
        if let connectTimeoutMilliseconds { options.connectTimeoutMilliseconds = connectTimeoutMilliseconds }
        return options
    }
}
