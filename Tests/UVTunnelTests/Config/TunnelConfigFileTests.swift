import XCTest
@testable import UVTunnel

final class TunnelConfigFileTests: XCTestCase {
    func testDefaultsApplyToEveryTunnelAndTablesOverride() throws {
        let config = try TunnelConfigFile.parse("""
        # comment line
        pomerium-url = "https://gw.example"   # trailing comment
        connect-timeout = 5
        drain-timeout = 2.5
        metrics-addr = "127.0.0.1:9100"

        [[tunnel]]
        listen = "127.0.0.1:3389"
        route = "rdp.example:3389"

        [[tunnel]]
        listen = '127.0.0.1:5432'
        route = "db.example:5432"
        connect-timeout = 30
        no-browser = true
        browser-cmd = "firefox --new-window \\"#x\\""
        """)
        XCTAssertEqual(config.tunnels.count, 2)
        XCTAssertEqual(config.tunnels[0].pomeriumURL, "https://gw.example")
        XCTAssertEqual(config.tunnels[0].connectTimeout, 5)
        XCTAssertEqual(config.tunnels[0].line, 7)
        XCTAssertEqual(config.tunnels[1].connectTimeout, 30)
        XCTAssertEqual(config.tunnels[1].noBrowser, true)
        XCTAssertEqual(config.tunnels[1].browserCommand, "firefox --new-window \"#x\"")
        XCTAssertEqual(config.drainTimeout, 2.5)
        XCTAssertEqual(config.metricsAddress, "127.0.0.1:9100")
    }

    private func error(_ text: String) -> ConfigError? {
        do {
            _ = try TunnelConfigFile.parse(text)
            return nil
        } catch {
            return error
        }
    }

    func testEveryMistakeNamesItsLine() {
        let table = "[[tunnel]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:5432\"\n"
        XCTAssertEqual(error(table + "connect-timeout = \"5\"\n")?.description, "line 4: connect-timeout must be a number of seconds")
        XCTAssertEqual(error(table + "colour = 1\n")?.description, "line 4: unknown key \"colour\"")
        XCTAssertEqual(error(table + "route = \"x:1\"\n")?.description, "line 4: duplicate key \"route\"")
        XCTAssertEqual(error("[tunnel]\n")?.description, "line 1: only [[array]] tables are supported, e.g. [[tunnel]]")
        XCTAssertEqual(error(table + "listen = \"unterminated\n")?.line, 4)
        XCTAssertEqual(error(table + "route2 = db:5432\n")?.line, 4)
        XCTAssertEqual(error("route = \"a:1\"\n" + table)?.description, "line 1: route belongs inside a [[tunnel]] table")
        XCTAssertEqual(error(table + table)?.description, "line 4: listen 127.0.0.1:1 is already used by the [[tunnel]] on line 1")
        XCTAssertEqual(error("[[tunnel]]\nroute = \"db:1\"\n")?.description,
                       "line 1: this [[tunnel]] has no listen address; add listen = \"127.0.0.1:PORT\"")
        XCTAssertEqual(error("[[tunnel]]\nlisten = \"-\"\nroute = \"db:1\"\n")?.line, 2)
        XCTAssertEqual(error(table + "drain-timeout = 3\n")?.line, 4)
        XCTAssertEqual(error(table + "connect-timeout = -1\n")?.line, 1)
        XCTAssertEqual(error("# empty\n")?.message, "no [[tunnel]] tables: nothing to serve")
    }

    func testArraysBooleansAndNumbersParse() throws {
        let document = try TOMLLite.parse("a = [1, 2.5, \"x\", true]\nb = false\nc = 1_000\n")
        XCTAssertEqual(document.root["a"]?.value, .array([.integer(1), .float(2.5), .string("x"), .boolean(true)]))
        XCTAssertEqual(document.root["b"]?.value, .boolean(false))
        XCTAssertEqual(document.root["c"]?.value, .integer(1000))
    }
}
