import Foundation
import XCTest

/// The command line as users drive it: stdio mode, signals, usage errors,
/// tokens from pomerium-cli's cache.
final class TunnelCLITests: XCTestCase {
    /// The first screen of help shows the commonest uses before the flags.
    func testHelpOpensWithTheCommonUses() throws {
        for (arguments, uses) in [(["--help"], ["--listen 127.0.0.1:3389", "ProxyCommand", "exec"]),
                                  (["exec", "--help"], ["xfreerdp /v:{}", "UVTUNNEL_PORT"])] {
            let help = try ChildProcess(Products.tunnel, arguments)
            XCTAssertEqual(help.waitForExit(), 0)
            let text = help.stdout
            let common = try XCTUnwrap(text.range(of: "Common uses:"), text)
            let options = try XCTUnwrap(text.range(of: "OPTIONS:"), text)
            XCTAssertLessThan(common.lowerBound, options.lowerBound, "uses come before the flags")
            for use in uses { XCTAssertTrue(text[common.lowerBound..<options.lowerBound].contains(use), "\(arguments): \(use)") }
        }
    }

    func testStdioModeCarriesOneTunnelAndExits() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let args = ["--listen", "-"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
        let tunnel = try ChildProcess(Products.tunnel, args)
        let payload = randomBytes(1 << 20)
        let writer = tunnel.stdinPipe.fileHandleForWriting
        Thread {
            writer.write(Data(payload))
            try? writer.close()  // stdin EOF half-closes toward the gateway
        }.start()
        XCTAssertEqual(tunnel.waitForExit(timeout: 30), 0, tunnel.stderr)
        XCTAssertEqual(tunnel.stdout.utf8.count >= 0, true)
        XCTAssertTrue(tunnel.stderr.contains("1048576 bytes up, 1048576 bytes down"), tunnel.stderr)
    }

    func testStdioModeOutputIsByteExact() throws {
        let greeting = Array("hello from the target\n".utf8)
        let target = try TargetServer(.speakFirst(greeting))
        let gateway = try GatewayFixture()
        let out = TemporaryDirectory()
        let outputPath = out.path + "/out.bin"
        try writeFile(outputPath, "")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Products.tunnel)
        process.arguments = ["--listen", "-"] + TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
        let input = Pipe()
        process.standardInput = input
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let payload = randomBytes(200_000)
        input.fileHandleForWriting.write(Data(payload))
        try input.fileHandleForWriting.close()
        let received = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssert([UInt8](received) == greeting + payload, "got \(received.count) bytes")
    }

    func testSIGTERMStopsAcceptingAndDrainsOpenTunnels() throws {
        let target = try TargetServer(.answerAfterEOF)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token()))
        let open = try TestSocket.connect(port: tunnel.port)
        try open.send(randomBytes(1000))
        tunnel.process.waitForOutput { $0.contains("connected") }
        tunnel.process.signal(SIGTERM)
        tunnel.process.waitForOutput { $0.contains("stopped accepting") }
        XCTAssertThrowsError(try TestSocket.connect(port: tunnel.port), "the listener is closed")
        // The open tunnel still completes its exchange.
        try open.send(randomBytes(500))
        open.shutdownWrite()
        XCTAssertEqual(String(decoding: try open.receiveAll(), as: UTF8.self), "got 1500 bytes")
        XCTAssertEqual(tunnel.process.waitForExit(timeout: 10), 0)
    }

    func testDrainTimeoutClosesLingeringTunnels() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let tunnel = try TunnelFixture(TunnelFixture.arguments(gateway: gateway, targetPort: target.port, token: try gateway.token())
                                       + ["--drain-timeout", "0.5"])
        let open = try TestSocket.connect(port: tunnel.port)
        try open.send([1, 2, 3])
        XCTAssertEqual(try open.receive(exactly: 3), [1, 2, 3])
        tunnel.process.signal(SIGINT)
        XCTAssertEqual(tunnel.process.waitForExit(timeout: 10), 0)
        XCTAssertTrue(open.waitForClose(timeout: 5))
        XCTAssertTrue(tunnel.process.stderr.contains("drain timeout"))
    }

    func testUsageErrorsExitTwoWithOneClearLine() throws {
        let cases: [([String], String)] = [
            (["db.corp"], "missing port"),
            ([""], "ROUTE is missing"),
            (["--listen", "nonsense", "db:5432"], "--listen"),
            (["--connect-timeout", "-1", "db:5432"], "--connect-timeout"),
            (["--connect-timeout=-1", "db:5432"], "--connect-timeout must be between 0.001 and 3600 seconds, got -1"),
            (["--drain-timeout", "86401", "db:5432"], "--drain-timeout must be between 0 and 86400 seconds, got 86401"),
            (["--service-account", "a", "--service-account-file", "b", "db:5432"], "give --service-account or --service-account-file, not both"),
            (["--client-cert", "/x", "db:5432"], "--client-key"),
            (["--ca-cert", "@@@", "db:5432"], "--ca-cert"),
        ]
        for (args, words) in cases {
            let process = try ChildProcess(Products.tunnel, args)
            XCTAssertEqual(process.waitForExit(), 2, "\(args): \(process.stderr)")
            XCTAssertTrue(process.stderr.contains(words), "\(args): \(process.stderr)")
            XCTAssertTrue(process.stderr.hasSuffix("\nRun 'uvtunnel --help' for usage.\n"), "\(args): \(process.stderr)")
        }
    }

    /// The subcommands' usage errors read the same way, and point at their own help.
    func testSubcommandUsageErrorsExitTwoAndPointAtTheirOwnHelp() throws {
        let cases: [([String], String)] = [
            (["udp", "--udp-max-sessions", "x", "db:53"], "uvtunnel udp: The value 'x' is invalid for '--udp-max-sessions <n>'"),
            (["udp", "--bogus", "db:53"], "uvtunnel udp: Unknown option '--bogus'"),
            (["exec", "--bogus", "db:5432", "--", "true"], "uvtunnel exec: Unknown option '--bogus'"),
        ]
        for (args, line) in cases {
            let process = try ChildProcess(Products.tunnel, args)
            XCTAssertEqual(process.waitForExit(), 2, "\(args): \(process.stderr)")
            XCTAssertEqual(process.stderr, "\(line)\nRun 'uvtunnel \(args[0]) --help' for usage.\n", "\(args)")
        }
    }

    func testListenerThatIsNotLoopbackWarns() throws {
        let process = try ChildProcess(Products.tunnel, ["--listen", ":0", "--disable-tls-verification", "db.example:5432"])
        process.waitForOutput { $0.contains("not loopback") }
    }

    func testPomeriumCLIStyleTcpSubcommandIsAccepted() throws {
        let process = try ChildProcess(Products.tunnel, ["tcp", "--listen", "127.0.0.1:0", "db.example:5432"])
        process.waitForOutput { $0.contains("listening on 127.0.0.1:") }
    }

    func testTokenFromPomeriumCLICacheIsSent() throws {
        let target = try TargetServer(.echo)
        let gateway = try GatewayFixture()
        let cache = TemporaryDirectory()
        // pomerium-cli's layout, computed here independently with python3:
        // upper-case base36 of HMAC-SHA512/256(key "LocalJWTCache", "host:port|true") + ".jwt".
        let key = "127.0.0.1:\(gateway.port)|true"
        let name = try pythonCacheFileName(key: key)
        let dir = cache.path + "/pomerium-cli/jwts"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeFile(dir + "/" + name, gateway.token())
        let tunnel = try TunnelFixture(["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                                        "127.0.0.1:\(target.port)"], environment: ["XDG_CACHE_HOME": cache.path])
        let payload = randomBytes(1000)
        XCTAssert(try echoRoundTrip(port: tunnel.port, payload: payload) == payload, tunnel.process.stderr)
    }

    /// The helper the cache tests name files with keeps a leading zero byte
    /// as "0", as pomerium-cli does: without it one gateway port in 256 gave
    /// a name uvtunnel never reads, and a test that found "no token".
    func testPythonCacheFileNameKeepsALeadingZeroByte() throws {
        XCTAssertEqual(try pythonCacheFileName(key: "host909.example:443|true"),
                       "0VID97ANSKIL7SIZXZM3T6YQSEWCE6STXM3ZVM6HZ3WB5N7V2.jwt")
    }

    func testRejectedCachedTokenIsDeletedButA403KeepsIt() throws {
        let gateway = try GatewayFixture(["--allow", "127.0.0.1:1"])
        let cache = TemporaryDirectory()
        let dir = cache.path + "/pomerium-cli/jwts"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/" + (try pythonCacheFileName(key: "127.0.0.1:\(gateway.port)|true"))
        let args = ["--pomerium-url", "https://127.0.0.1:\(gateway.port)", "--alternate-ca-path", gateway.caPath,
                    "--no-browser", "--auth-timeout", "1", "127.0.0.1:9"]

        // A valid token, but the destination is not allowed: 403 keeps it.
        try writeFile(file, gateway.token())
        let first = try TunnelFixture(args, environment: ["XDG_CACHE_HOME": cache.path])
        XCTAssertTrue(try TestSocket.connect(port: first.port).waitForClose(timeout: 10))
        first.process.waitForOutput { $0.contains("403") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: file))

        // A token signed by another key: 401 deletes it.
        let stranger = try GatewayFixture()
        try writeFile(file, stranger.token())
        let second = try TunnelFixture(args, environment: ["XDG_CACHE_HOME": cache.path])
        XCTAssertTrue(try TestSocket.connect(port: second.port).waitForClose(timeout: 10))
        second.process.waitForOutput { $0.contains("401") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: file))
    }
}

extension TunnelCLITests {
    func testCacheLocationAndClear() throws {
        let cache = TemporaryDirectory()
        let location = try ChildProcess(Products.tunnel, ["cache", "location"], environment: ["XDG_CACHE_HOME": cache.path])
        XCTAssertEqual(location.waitForExit(), 0)
        XCTAssertEqual(location.stdout.trimmingCharacters(in: .whitespacesAndNewlines), cache.path + "/pomerium-cli/jwts")
        let dir = cache.path + "/pomerium-cli/jwts"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeFile(dir + "/ABC.jwt", "a.b.c")
        try writeFile(dir + "/keep.txt", "")
        let clear = try ChildProcess(Products.tunnel, ["cache", "clear"], environment: ["XDG_CACHE_HOME": cache.path])
        XCTAssertEqual(clear.waitForExit(), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ABC.jwt"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/keep.txt"))
    }
}

/// The cache file name as pomerium-cli computes it, by an independent implementation.
func pythonCacheFileName(key: String) throws -> String {
    let script = """
    import hmac, hashlib, sys
    d = hmac.new(b"LocalJWTCache", sys.argv[1].encode(), lambda: hashlib.new("sha512_256")).digest()
    n = int.from_bytes(d, "big"); s = ""
    while n: n, r = divmod(n, 36); s = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[r] + s
    # martinlindhe/base36 EncodeBytes: one "0" per leading zero byte (a key in 256).
    print("0" * (len(d) - len(d.lstrip(b"\\0"))) + s + ".jwt")
    """
    let python = try ChildProcess("/usr/bin/env", ["python3", "-c", script, key])
    guard python.waitForExit() == 0 else { throw TestError("python3: \(python.stderr)") }
    let name = python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    // An empty name would read the cache directory itself and look like a missing token.
    guard name.hasSuffix(".jwt") else { throw TestError("python3 printed \"\(name)\" for the cache file name; stderr: \(python.stderr)") }
    return name
}
