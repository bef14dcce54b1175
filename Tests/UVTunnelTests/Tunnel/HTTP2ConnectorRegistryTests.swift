import Logging
import XCTest
@testable import UVTunnel

/// Routes to the same gateway share its HTTP/2 connections through one
/// leased HTTP2Connector; it shuts down with the last lease.
final class HTTP2ConnectorRegistryTests: H2GatewayLoopTestCase {
    private func makeConnector(destination: String, settings: HTTP2Settings = HTTP2Settings()) throws -> HTTP2Connector {
        let options = try gatewayOptions(to: destination)
        var client = gatewayTLSOptions()
        client.alpnProtocols = ["h2", "http/1.1"]
        return HTTP2Connector(loop: loop, options: options, tls: try TLSContext.client(client), settings: settings, logger: .quiet)
    }

    /// A route's lease says what its shared connector does with early data
    /// (`--no-early-data`), which the tunnel asks before it reads early.
    func testALeaseCarriesEarlyDataAsItsConnectorDoes() throws {
        let registry = HTTP2ConnectorRegistry()
        var off = HTTP2Settings()
        off.earlyData = false
        let with = registry.lease(key: "early", timeoutMilliseconds: 5_000) { try! makeConnector(destination: "db.internal:5432") }
        let without = registry.lease(key: "no early", timeoutMilliseconds: 5_000) {
            try! makeConnector(destination: "db.internal:5432", settings: off)
        }
        XCTAssertTrue(with.carriesEarlyData)
        XCTAssertFalse(without.carriesEarlyData)
        with.shutdown()
        without.shutdown()
        XCTAssertEqual(registry.connectorCount, 0)
    }

    private func open(_ connector: GatewayConnector, _ destination: String) -> ByteStream? {
        var result: Result<ByteStream, TunnelFailure>?
        let attempt = connector.open(destination: destination, token: nil) { result = $0 }
        spin("the answer for \(destination)") { result != nil }
        XCTAssertEqual(attempt.stage, .finished)
        return try? result?.get()
    }

    func testRoutesWithTheSameKeyShareConnectionsUntilTheLastLeaseIsGivenBack() throws {
        let registry = HTTP2ConnectorRegistry()
        var made = 0
        let db = registry.lease(key: "gw", timeoutMilliseconds: 5_000) {
            made += 1
            return try! makeConnector(destination: "db.internal:5432")
        }
        let ssh = registry.lease(key: "gw", timeoutMilliseconds: 5_000) {
            made += 1
            return try! makeConnector(destination: "ssh.internal:22")
        }
        let other = registry.lease(key: "other settings", timeoutMilliseconds: 5_000) {
            made += 1
            return try! makeConnector(destination: "web.internal:443")
        }
        XCTAssertEqual(made, 2)
        XCTAssertEqual(registry.connectorCount, 2)
        let first = try XCTUnwrap(open(db, "db.internal:5432"))
        let second = try XCTUnwrap(open(ssh, "ssh.internal:22"))
        XCTAssertEqual(gateway.acceptedCount, 1, "both routes' tunnels on one connection")
        XCTAssertEqual(gateway.connections.first?.server.order.count, 2)
        XCTAssertEqual(db.sharedConnections, ssh.sharedConnections)
        let third = try XCTUnwrap(open(other, "web.internal:443"))
        XCTAssertEqual(gateway.acceptedCount, 2, "other settings, other connections")
        first.close()
        db.shutdown()
        db.shutdown()  // a server calls it twice; the second changes nothing
        XCTAssertEqual(registry.connectorCount, 2, "ssh still holds the shared connector")
        let again = try XCTUnwrap(open(ssh, "ssh.internal:22"))
        XCTAssertEqual(gateway.acceptedCount, 2, "still the same connection")
        second.close()
        again.close()
        ssh.shutdown()
        XCTAssertEqual(registry.connectorCount, 1)
        spin("the shared connection to close") { gateway.closedCount == 1 }
        third.close()
        other.shutdown()
        XCTAssertEqual(registry.connectorCount, 0)
        spin("the other connection to close") { gateway.closedCount == 2 }
    }
}
