import XCTest
@testable import UVTunnel

final class DurationTextTests: XCTestCase {
    func testBareNumbersAreSeconds() {
        XCTAssertEqual(DurationText.seconds("90"), 90)
        XCTAssertEqual(DurationText.seconds("2.5"), 2.5)
        XCTAssertEqual(DurationText.seconds(" 15 "), 15)
        XCTAssertEqual(DurationText.seconds("-1"), -1, "read, so the range check can name it")
    }

    func testGoUnitsAndCombinations() {
        XCTAssertEqual(DurationText.seconds("500ms"), 0.5)
        XCTAssertEqual(DurationText.seconds("10s"), 10)
        XCTAssertEqual(DurationText.seconds("3m"), 180)
        XCTAssertEqual(DurationText.seconds("8h"), 28_800)
        XCTAssertEqual(DurationText.seconds("1h30m"), 5_400)
        XCTAssertEqual(DurationText.seconds("1.5h"), 5_400)
        XCTAssertEqual(DurationText.seconds("2m3.5s"), 123.5)
        XCTAssertEqual(DurationText.seconds("250us")!, 0.000_25, accuracy: 1e-12)
        XCTAssertEqual(DurationText.seconds("250µs")!, 0.000_25, accuracy: 1e-12)
        XCTAssertEqual(DurationText.seconds("1000000ns")!, 0.001, accuracy: 1e-12)
    }

    func testWhatIsNotADuration() {
        for text in ["", "s", "abc", "10x", "1h30", "ms", ".", "1..5s", "inf", "nan", "10 s", "+5", "1e3", "--1", "5sm"] {
            XCTAssertNil(DurationText.seconds(text), text)
        }
    }

    func testConfigFileTakesDurationsAndNamesTheLineOfABadOne() throws {
        let config = try TunnelConfigFile.parse("""
        drain-timeout = "1m"
        connect-timeout = "500ms"

        [[tunnel]]
        listen = "127.0.0.1:3389"
        route = "rdp.example:3389"
        max-tunnel-lifetime = "8h"
        auth-timeout = 90
        """)
        XCTAssertEqual(config.drainTimeout, 60)
        XCTAssertEqual(config.tunnels[0].connectTimeout, 0.5)
        XCTAssertEqual(config.tunnels[0].maxTunnelLifetime, 28_800)
        XCTAssertEqual(config.tunnels[0].authTimeout, 90)
        XCTAssertThrowsError(try TunnelConfigFile.parse("""
        [[tunnel]]
        listen = "127.0.0.1:3389"
        route = "rdp.example:3389"
        recheck-interval = "soon"
        """)) { error in
            XCTAssertEqual("\(error)", "line 4: recheck-interval must be \(DurationText.expected), got \"soon\"")
        }
        XCTAssertThrowsError(try TunnelConfigFile.parse("""
        [[tunnel]]
        listen = "127.0.0.1:3389"
        route = "rdp.example:3389"
        connect-timeout = "2h"
        """)) { error in
            XCTAssertEqual("\(error)", "line 4: connect-timeout must be between 0.001 and 3600 seconds, got 7200")
        }
    }
}
