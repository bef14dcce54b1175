import XCTest
@testable import UVTunnel

/// Each option declared once: the flag and the config key are the same word,
/// a range check gives the same message either way, naming the option as the
/// user spelled it.
final class TunnelOptionTests: XCTestCase {
    func testFlagAndKeyAreOneWord() {
        for option in TunnelOption.allCases {
            XCTAssertEqual(option.flag, "--" + option.key)
            XCTAssertEqual(TunnelOption(key: option.key), option)
        }
        XCTAssertEqual(TunnelOption(key: "browser-cmd"), .browserCommand)
        XCTAssertNil(TunnelOption(key: "conect-timeout"))
    }

    func testSpellingFollowsWhereTheEntryCameFrom() {
        XCTAssertEqual(TunnelOption.connectTimeout.spelled(for: .commandLine), "--connect-timeout")
        XCTAssertEqual(TunnelOption.connectTimeout.spelled(for: .configFile(line: 7)), "connect-timeout")
        XCTAssertEqual(TunnelOption.route.spelled(for: .commandLine), "ROUTE")
        XCTAssertEqual(TunnelOption.route.spelled(for: .configFile(line: 7)), "route")
        var entry = TunnelEntry()
        XCTAssertEqual(entry.origin, .commandLine)
        XCTAssertEqual(entry.spelling, .commandLine)
        entry.line = 7
        XCTAssertEqual(entry.origin, .configFile(line: 7))
        XCTAssertEqual(entry.spelling, .configFile)
        entry.origin = .configFile(line: nil)  // a table whose line is unknown is still from the file
        XCTAssertEqual(entry.spelling, .configFile)
    }

    func testOneRangeCheckOneMessage() {
        XCTAssertNil(TunnelOption.connectTimeout.check(seconds: 15, from: .commandLine))
        XCTAssertEqual(TunnelOption.connectTimeout.check(seconds: 0, from: .commandLine)?.description,
                       "--connect-timeout must be between 0.001 and 3600 seconds, got 0")
        XCTAssertEqual(TunnelOption.connectTimeout.check(seconds: 0, from: .configFile(line: 7))?.description,
                       "line 7: connect-timeout must be between 0.001 and 3600 seconds, got 0")
        XCTAssertEqual(TunnelOption.recheckInterval.check(seconds: 0.5, from: .commandLine)?.message,
                       "--recheck-interval must be between 1 and 86400 seconds, got 0.5")
        XCTAssertNil(TunnelOption.drainTimeout.check(seconds: 0, from: .commandLine), "no drain is allowed")
        XCTAssertNotNil(TunnelOption.maxTunnelLifetime.check(seconds: .nan, from: .commandLine))
        XCTAssertNil(TunnelOption.pomeriumURL.check(seconds: -1, from: .commandLine), "not a number option")
    }

    func testEntryValidationNamesFlagsOnTheCommandLineAndKeysInAFile() {
        var entry = TunnelEntry()
        entry.route = "db:5432"
        entry.serviceAccount = "a"
        entry.serviceAccountFile = "b"
        XCTAssertThrowsError(try entry.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.description, "give --service-account or --service-account-file, not both")
        }
        entry.line = 3
        XCTAssertThrowsError(try entry.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.description, "line 3: give service-account or service-account-file, not both")
        }
        entry = TunnelEntry()
        entry.route = "db:5432"
        entry.connectTimeout = 4000
        XCTAssertThrowsError(try entry.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.description, "--connect-timeout must be between 0.001 and 3600 seconds, got 4000")
        }
    }

    /// `--max-streams-per-connection` and its config key share one range and message.
    func testMaxStreamsPerConnectionRangeNamesTheFlagOrTheKey() {
        var entry = TunnelEntry()
        entry.route = "db:5432"
        entry.maxStreamsPerConnection = 10_000
        XCTAssertNoThrow(try entry.validate())
        entry.maxStreamsPerConnection = 0
        XCTAssertThrowsError(try entry.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.description, "--max-streams-per-connection must be between 1 and 10000, got 0")
        }
        entry.line = 4
        XCTAssertThrowsError(try entry.validate()) { error in
            XCTAssertEqual((error as? ConfigError)?.description, "line 4: max-streams-per-connection must be between 1 and 10000, got 0")
        }
    }

    /// The config reader checks each key's value as the table's `kind` says.
    func testConfigReaderFollowsEachOptionsKind() {
        for option in TunnelOption.allCases {
            let wrong: String
            let expected: String
            switch option.kind {
            case .string: (wrong, expected) = ("1", "\(option.key) must be a string in quotes")
            case .stringList: (wrong, expected) = ("1", "\(option.key) must be a string or an array of strings")
            case .boolean: (wrong, expected) = ("\"yes\"", "\(option.key) must be true or false")
            case .seconds: (wrong, expected) = ("true", "\(option.key) must be \(DurationText.expected)")
            case .integer: (wrong, expected) = ("\"ten\"", "\(option.key) must be a whole number")
            case .choice(let words): (wrong, expected) = ("1", "\(option.key) must be " + words.map { "\"\($0)\"" }.joined(separator: " or "))
            }
            var table = "[[tunnel]]\n"
            if option != .listen { table += "listen = \"127.0.0.1:1\"\n" }
            if option != .route { table += "route = \"db:1\"\n" }
            let text = option.scope == .process ? "\(option.key) = \(wrong)\n" + table : table + "\(option.key) = \(wrong)\n"
            XCTAssertThrowsError(try TunnelConfigFile.parse(text), "\(option)") { error in
                XCTAssertEqual((error as? ConfigError)?.message, expected, "\(option)")
            }
        }
    }
}
