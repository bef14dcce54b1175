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
        XCTAssertEqual(error(table + "connect-timeout = [5]\n")?.description, "line 4: connect-timeout must be \(DurationText.expected)")
        XCTAssertEqual(error(table + "colour = 1\n")?.description, "line 4: unknown key \"colour\"")
        // A syntax error is TOMLKit's (toml++'s) message, at its line.
        XCTAssertEqual(error(table + "route = \"x:1\"\n")?.line, 4)
        XCTAssertEqual(error("[tunnel]\n")?.description, "line 1: only [[array]] tables are supported, e.g. [[tunnel]]")
        XCTAssertEqual(error(table + "listen = \"unterminated\n")?.line, 4)
        XCTAssertEqual(error(table + "route2 = db:5432\n")?.line, 4)
        XCTAssertEqual(error("route = \"a:1\"\n" + table)?.description, "line 1: route belongs inside a [[tunnel]] table")
        XCTAssertEqual(error(table + table)?.description, "line 4: listen 127.0.0.1:1 is already used by the [[tunnel]] on line 1")
        XCTAssertEqual(error("[[tunnel]]\nroute = \"db:1\"\n")?.description,
                       "line 1: this [[tunnel]] has no listen address; add listen = \"127.0.0.1:PORT\"")
        XCTAssertEqual(error("[[tunnel]]\nlisten = \"-\"\nroute = \"db:1\"\n")?.line, 2)
        XCTAssertEqual(error(table + "drain-timeout = 3\n")?.line, 4)
        // A value out of range is named by its key, on its own line, in TunnelOption's words.
        XCTAssertEqual(error(table + "connect-timeout = -1\n")?.description, "line 4: connect-timeout must be between 0.001 and 3600 seconds, got -1")
        XCTAssertEqual(error("drain-timeout = 100000\n" + table)?.description, "line 1: drain-timeout must be between 0 and 86400 seconds, got 100000")
        XCTAssertEqual(error(table + "service-account = \"a\"\nservice-account-file = \"b\"\n")?.description,
                       "line 1: give service-account or service-account-file, not both")
        XCTAssertEqual(error("# empty\n")?.message, "no [[tunnel]] tables: nothing to serve")
    }

    /// RDP's pair: a tcp and a udp entry on one port number; a recheck default reaches both.
    func testTCPAndUDPEntriesMayShareAPortNumber() throws {
        let config = try TunnelConfigFile.parse("""
        udp-idle-timeout = "30s"
        recheck-interval = "5m"

        [[tunnel]]
        listen = "127.0.0.1:3389"
        route = "rdp.example:3389"

        [[tunnel]]
        protocol = "udp"
        listen = "127.0.0.1:3389"
        route = "udp+https://rdp.example:3389"
        udp-max-sessions = 50
        """)
        XCTAssertEqual(config.tunnels.map(\.protocol), [.tcp, .udp])
        XCTAssertEqual(config.tunnels.map(\.listen), ["127.0.0.1:3389", "127.0.0.1:3389"])
        XCTAssertEqual(config.tunnels[1].udpIdleTimeout, 30)
        XCTAssertEqual(config.tunnels[1].udpMaxSessions, 50)
        XCTAssertEqual(config.tunnels.map(\.recheckInterval), [300, 300])
    }

    func testUDPEntryMistakesNameTheirLine() {
        let tcp = "[[tunnel]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:1\"\n"
        let udp = "[[tunnel]]\nprotocol = \"udp\"\nlisten = \"127.0.0.1:1\"\nroute = \"dns:53\"\n"
        XCTAssertEqual(error(tcp + "protocol = \"sctp\"\n")?.description, #"line 4: protocol must be "tcp" or "udp", got "sctp""#)
        XCTAssertEqual(error(tcp + "protocol = 17\n")?.description, #"line 4: protocol must be "tcp" or "udp""#)
        XCTAssertEqual(error("protocol = \"udp\"\n" + tcp)?.description, "line 1: protocol belongs inside a [[tunnel]] table")
        XCTAssertEqual(error(udp + udp)?.description, "line 5: UDP listen 127.0.0.1:1 is already used by the [[tunnel]] on line 1")
        XCTAssertEqual(error(tcp + "udp-idle-timeout = 5\n")?.description,
                       #"line 4: udp-idle-timeout applies only to protocol = "udp" entries; this one is "tcp""#)
        XCTAssertEqual(error(udp + "recheck-interval = 60\n")?.description, nil, "UDP sessions are rechecked too")
        XCTAssertEqual(error(udp + "udp-max-sessions = 0\n")?.description, "line 5: udp-max-sessions must be between 1 and 1000000, got 0")
        XCTAssertEqual(error(udp + "udp-max-sessions = \"many\"\n")?.description, "line 5: udp-max-sessions must be a whole number")
        XCTAssertEqual(error(udp + "udp-idle-timeout = 0\n")?.description, "line 5: udp-idle-timeout must be between 0.001 and 86400 seconds, got 0")
        XCTAssertEqual(error("[[tunnel]]\nprotocol = \"udp\"\nlisten = \"127.0.0.1:1\"\nroute = \"tcp+https://db:1\"\n")?.description, nil,
                       "the route is checked when the entry is put to work, not by the reader")
    }

    /// `max-streams-per-connection` as a default and per tunnel, like `multiplex`.
    func testMaxStreamsPerConnectionIsADefaultAndAPerTunnelKey() throws {
        let config = try TunnelConfigFile.parse("""
        multiplex = true
        max-streams-per-connection = 300

        [[tunnel]]
        listen = "127.0.0.1:1"
        route = "db:1"

        [[tunnel]]
        listen = "127.0.0.1:2"
        route = "db:2"
        max-streams-per-connection = 1_000
        """)
        XCTAssertEqual(config.tunnels.map(\.maxStreamsPerConnection), [300, 1_000])
        XCTAssertEqual(config.tunnels.map(\.multiplex), [true, true])
        let unset = try TunnelConfigFile.parse("[[tunnel]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:1\"\n")
        XCTAssertEqual(unset.tunnels.first?.maxStreamsPerConnection, 100, "the flag's default")
    }

    func testMaxStreamsPerConnectionMistakesNameTheirLine() {
        let table = "[[tunnel]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:1\"\nmultiplex = true\n"
        XCTAssertEqual(error(table + "max-streams-per-connection = 0\n")?.description,
                       "line 5: max-streams-per-connection must be between 1 and 10000, got 0")
        XCTAssertEqual(error(table + "max-streams-per-connection = 10_001\n")?.description,
                       "line 5: max-streams-per-connection must be between 1 and 10000, got 10001")
        XCTAssertEqual(error(table + "max-streams-per-connection = \"100\"\n")?.description,
                       "line 5: max-streams-per-connection must be a whole number")
        XCTAssertEqual(error(table + "max-streams-per-connection = 2.5\n")?.description,
                       "line 5: max-streams-per-connection must be a whole number")
        XCTAssertEqual(error("max-streams-per-connection = -3\n" + table)?.description,
                       "line 1: max-streams-per-connection must be between 1 and 10000, got -3")
    }

    /// `early-data` as a default and per tunnel, like `max-streams-per-connection`; on unless set.
    func testEarlyDataIsADefaultAndAPerTunnelKey() throws {
        let config = try TunnelConfigFile.parse("""
        multiplex = true
        early-data = false

        [[tunnel]]
        listen = "127.0.0.1:1"
        route = "db:1"

        [[tunnel]]
        listen = "127.0.0.1:2"
        route = "db:2"
        early-data = true
        """)
        XCTAssertEqual(config.tunnels.map(\.earlyData), [false, true])
        let unset = try TunnelConfigFile.parse("[[tunnel]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:1\"\n")
        XCTAssertEqual(unset.tunnels.first?.earlyData, true, "the flag's default")
        XCTAssertEqual(TunnelEntry().earlyData, true)
    }

    func testEarlyDataMistakesNameTheirLine() {
        let table = "[[tunnel]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:1\"\nmultiplex = true\n"
        XCTAssertEqual(error(table + "early-data = \"no\"\n")?.description, "line 5: early-data must be true or false")
        XCTAssertEqual(error(table + "early-data = 0\n")?.description, "line 5: early-data must be true or false")
        XCTAssertEqual(error("early-data = 1\n" + table)?.description, "line 1: early-data must be true or false")
        XCTAssertEqual(error(table + "no-early-data = true\n")?.description, #"line 5: unknown key "no-early-data""#,
                       "the file says early-data = false; the no- form is the command line's")
    }

    func testTOMLBeyondTheOldSubsetParses() throws {
        // Underscores in numbers, literal and multi-line strings, a multi-line
        // array, inline comments, a quoted key: TOML 1.0 as TOMLKit reads it.
        let config = try TunnelConfigFile.parse("""
        connect-timeout = 1_0
        "auth-timeout" = 2.5e1
        browser-cmd = '''
        firefox --new-window'''

        [[tunnel]]
        listen = "127.0.0.1:1"   # a comment
        route = 'db:5432'
        allow-from = [
            "10.0.0.0/8",  # office
            "::1",
        ]
        no-browser = true
        """)
        let tunnel = try XCTUnwrap(config.tunnels.first)
        XCTAssertEqual(tunnel.connectTimeout, 10)
        XCTAssertEqual(tunnel.authTimeout, 25)
        XCTAssertEqual(tunnel.browserCommand, "firefox --new-window")
        XCTAssertEqual(tunnel.allowFrom, "10.0.0.0/8,::1")
        XCTAssertEqual(tunnel.noBrowser, true)
        XCTAssertEqual(tunnel.line, 6)
    }

    func testLinesAreFoundPastMultiLineStringsAndArrays() {
        // A multi-line string whose text looks like a table header and a key
        // must not shift the lines of what follows it.
        let text = #"""
        pomerium-url = "https://gw.example"
        browser-cmd = """
        [[tunnel]]
        colour = 1
        """

        [[tunnel]]
        listen = "127.0.0.1:1"
        route = "db:5432"
        allow-from = [
          "10.0.0.0/8",
        ]
        recheck-interval = 0.5
        """#
        XCTAssertEqual(error(text)?.description, "line 13: recheck-interval must be between 1 and 86400 seconds, got 0.5")
    }

    func testATunnelWithoutAHeaderLineIsNamedByNumberAndListen() {
        // Inline tables have no [[tunnel]] header to find: the message names
        // the tunnel by its number and listen address instead of a line.
        let text = #"tunnel = [{ listen = "127.0.0.1:1", route = "db:1", connect-timeout = 0 }]"# + "\n"
        let failure = error(text)
        XCTAssertNil(failure?.line)
        XCTAssertEqual(failure?.message, "[[tunnel]] 1 (listen \"127.0.0.1:1\"): connect-timeout must be between 0.001 and 3600 seconds, got 0")
        XCTAssertEqual(try TunnelConfigFile.parse(#"tunnel = [{ listen = "127.0.0.1:1", route = "db:1" }]"#).tunnels.first?.route, "db:1")
    }

    func testQuotedTableNameIsTheSameTable() throws {
        let config = try TunnelConfigFile.parse("[[ \"tunnel\" ]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:1\"\n")
        XCTAssertEqual(config.tunnels.first?.line, 1)
        XCTAssertEqual(error("[[\"tunnel\"]]\nlisten = \"127.0.0.1:1\"\nroute = \"db:1\"\nconnect-timeout = 0\n")?.line, 4)
    }

    func testOverOneMebibyteIsRefused() {
        let text = "# " + String(repeating: "x", count: 1 << 20) + "\n"
        XCTAssertEqual(error(text)?.message, "the file is over 1 MiB")
    }
}
