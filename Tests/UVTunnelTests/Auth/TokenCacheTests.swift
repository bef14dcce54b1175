import Foundation
import XCTest
@testable import UVTunnel

final class TokenCacheTests: XCTestCase {
    private var root = ""
    private var directory = ""
    private let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("uvtunnel-cache-\(UUID().uuidString)").path
        directory = root + "/cache/pomerium-cli/jwts"
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: - naming, checked against values computed outside this code

    /// Expected names computed independently with Python (hmac + hashlib, and
    /// base36 done the way github.com/martinlindhe/base36 EncodeBytes does it,
    /// one "0" per leading zero byte):
    ///
    ///     python3 -c 'import hmac,sys; A="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ///     d=hmac.new(b"LocalJWTCache", sys.argv[1].encode(), "sha512_256").digest()
    ///     n=int.from_bytes(d,"big"); s=""
    ///     while n: n,r=divmod(n,36); s=A[r]+s
    ///     print("0"*(len(d)-len(d.lstrip(b"\0")))+s+".jwt")' 'gw.example:443|true'
    func testFileNamesMatchPomeriumCLI() {
        let expected = [
            "gw.example:443|true": "1PXGQVNW2MLY1VGKS179O6UM1BLRNQLAZVAMB1V6Z5K4EL1YU5.jwt",
            "localhost:8443|false": "3C3SSOVL7GFI02YQ499PUAIBLQYDQJEH7L0M7A3GQLCT40FP74.jwt",
            "[::1]:443|true": "F2K8WQMF8NWBXWQY1V4F3KPGN9WJ8O7TU2SJGVDACS2CQVD9Q.jwt",
            // Its HMAC starts with a zero byte (00f9baca...), which base36 keeps as a leading "0".
            "host909.example:443|true": "0VID97ANSKIL7SIZXZM3T6YQSEWCE6STXM3ZVM6HZ3WB5N7V2.jwt",
        ]
        for (key, name) in expected {
            XCTAssertEqual(TokenCache.fileName(forKey: key), name, key)
        }
    }

    func testFileNamesMatchPythonAtTestTime() throws {
        let python = "/usr/bin/env"
        let script = """
        import hmac, sys
        A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        for key in sys.argv[1:]:
            d = hmac.new(b"LocalJWTCache", key.encode(), "sha512_256").digest()
            n = int.from_bytes(d, "big"); s = ""
            while n:
                n, r = divmod(n, 36); s = A[r] + s
            print("0" * (len(d) - len(d.lstrip(b"\\0"))) + s + ".jwt")
        """
        let keys = (0..<20).map { "gateway-\($0).example.com:\(400 + $0)|\($0 % 2 == 0)" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["python3", "-c", script] + keys
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return XCTFail("python3 is not available (.ci/setup installs it)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return XCTFail("python3 failed") }
        let names = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(names, keys.map(TokenCache.fileName(forKey:)))
    }

    func testBase36MatchesMartinlindheBase36() {
        XCTAssertEqual(Base36.encode([1, 2, 3, 4]), "A2F44")  // the library's README example
        XCTAssertEqual(Base36.encode([0, 0, 1]), "001")
        XCTAssertEqual(Base36.encode([0]), "0")
        XCTAssertEqual(Base36.encode([]), "")
        XCTAssertEqual(Base36.encode([35]), "Z")
        XCTAssertEqual(Base36.encode([36]), "10")
        XCTAssertEqual(Base36.encode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), "3W5E11264SGSF")  // MaxUint64, from its tests
    }

    func testKeyFormat() {
        XCTAssertEqual(TokenCache.key(gatewayAuthority: "gw.example:443", tls: true), "gw.example:443|true")
        XCTAssertEqual(TokenCache.key(gatewayAuthority: "10.0.0.1:80", tls: false), "10.0.0.1:80|false")
    }

    func testDefaultDirectoryFollowsGoUserCacheDir() throws {
        XCTAssertEqual(try TokenCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"]), "/x/cache/pomerium-cli/jwts")
        XCTAssertEqual(try TokenCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "", "HOME": "/home/u"]), "/home/u/.cache/pomerium-cli/jwts")
        XCTAssertEqual(try TokenCache.defaultDirectory(environment: ["HOME": "/home/u"]), "/home/u/.cache/pomerium-cli/jwts")
        XCTAssertThrowsError(try TokenCache.defaultDirectory(environment: [:]))
        XCTAssertThrowsError(try TokenCache.defaultDirectory(environment: ["HOME": ""]))
        XCTAssertThrowsError(try TokenCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "relative", "HOME": "/home/u"]))
    }

    // MARK: - store / load

    func testStoreThenLoadWritesTheRawTokenWithPrivateModes() throws {
        let cache = TokenCache(directory: directory)
        let key = TokenCache.key(gatewayAuthority: "gw.example:443", tls: true)
        XCTAssertNil(try cache.load(key: key))
        try cache.store(token, key: key)
        XCTAssertEqual(try cache.load(key: key), token)

        let path = directory + "/1PXGQVNW2MLY1VGKS179O6UM1BLRNQLAZVAMB1V6Z5K4EL1YU5.jwt"
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), token, "raw JWT, no newline, as pomerium-cli writes it")
        XCTAssertEqual(try mode(of: path), 0o600)
        XCTAssertEqual(try mode(of: directory), 0o700)
    }

    func testStoreTightensALooserExistingDirectory() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(directory, 0o755), 0)
        try TokenCache(directory: directory).store(token, key: "k")
        XCTAssertEqual(try mode(of: directory), 0o700)
    }

    func testStoreReplacesAtomically() throws {
        let cache = TokenCache(directory: directory)
        try cache.store(token, key: "k")
        let path = directory + "/" + TokenCache.fileName(forKey: "k")
        let reader = try XCTUnwrap(FileHandle(forReadingAtPath: path))
        defer { try? reader.close() }
        let inodeBefore = try inode(of: path)

        try cache.store("new.token.value", key: "k")
        XCTAssertEqual(try cache.load(key: "k"), "new.token.value")
        // Rename swapped in a new file: one opened earlier still reads the whole old token.
        XCTAssertNotEqual(try inode(of: path), inodeBefore)
        XCTAssertEqual(String(decoding: try reader.readToEnd() ?? Data(), as: UTF8.self), token)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), [TokenCache.fileName(forKey: "k")], "no temporary file left behind")
        XCTAssertEqual(try mode(of: path), 0o600)
    }

    func testStoreRefusesThingsThatAreNotCompactJWTs() throws {
        let cache = TokenCache(directory: directory)
        for bad in ["", "a b", "tok\n", "tok\0en", String(repeating: "a", count: TokenCache.maximumFileSize + 1)] {
            XCTAssertThrowsError(try cache.store(bad, key: "k"), bad.prefix(20).debugDescription) { error in
                XCTAssertFalse(bad.count > 3 && String(describing: error).contains(bad), "error echoes the token")
            }
        }
        XCTAssertNil(try cache.load(key: "k"))
    }

    func testLoadTrimsWhitespace() throws {
        try write("\n  \(token) \r\n", name: TokenCache.fileName(forKey: "k"))
        XCTAssertEqual(try TokenCache(directory: directory).load(key: "k"), token)
        try write(" \n\t", name: TokenCache.fileName(forKey: "blank"))
        XCTAssertNil(try TokenCache(directory: directory).load(key: "blank"))
    }

    func testLoadRefusesOversizedFiles() throws {
        let name = TokenCache.fileName(forKey: "big")
        try write(String(repeating: "a", count: TokenCache.maximumFileSize + 1), name: name)
        XCTAssertThrowsError(try TokenCache(directory: directory).load(key: "big")) { error in
            XCTAssertTrue(String(describing: error).contains(name), "the message names the file")
        }
        // Exactly at the limit is still read.
        try write(String(repeating: "a", count: TokenCache.maximumFileSize), name: name)
        XCTAssertEqual(try TokenCache(directory: directory).load(key: "big")?.count, TokenCache.maximumFileSize)
    }

    func testLoadRefusesNonRegularFilesWithoutHanging() throws {
        try FileManager.default.createDirectory(atPath: directory + "/" + TokenCache.fileName(forKey: "dir"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try TokenCache(directory: directory).load(key: "dir"))
        XCTAssertEqual(mkfifo(directory + "/" + TokenCache.fileName(forKey: "fifo"), 0o600), 0)
        XCTAssertThrowsError(try TokenCache(directory: directory).load(key: "fifo"))
    }

    func testLoadRefusesInvalidUTF8() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: directory + "/" + TokenCache.fileName(forKey: "bin"), contents: Data([0xFF, 0xFE, 0x00]),
                                                     attributes: [.posixPermissions: 0o600]))
        XCTAssertThrowsError(try TokenCache(directory: directory).load(key: "bin")) { error in
            XCTAssertTrue(String(describing: error).contains("not UTF-8"), "\(error)")
        }
    }

    // MARK: - delete / clear

    func testDeleteRemovesTheTokenAndToleratesMissing() throws {
        let cache = TokenCache(directory: directory)
        try cache.store(token, key: "k")
        try cache.delete(key: "k")
        XCTAssertNil(try cache.load(key: "k"))
        XCTAssertNoThrow(try cache.delete(key: "k"))
        XCTAssertNoThrow(try TokenCache(directory: root + "/nowhere").delete(key: "k"))
    }

    func testDeleteIfStillLeavesATokenAnotherProcessStoredSince() throws {
        let cache = TokenCache(directory: directory)
        let fresher = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiIn0.bmV3ZXI"
        try cache.store(fresher, key: "k")
        try cache.delete(key: "k", ifStill: token)  // the rejected one is no longer there
        XCTAssertEqual(try cache.load(key: "k"), fresher)
        try cache.delete(key: "k", ifStill: fresher)
        XCTAssertNil(try cache.load(key: "k"))
    }

    func testFreshTokenSkipsTheStaleAndTheExpired() throws {
        let cache = TokenCache(directory: directory)
        XCTAssertNil(cache.freshToken(key: "k", other: nil), "nothing cached")
        try cache.store(token, key: "k")  // no exp claim: usable until the gateway says otherwise
        XCTAssertEqual(cache.freshToken(key: "k", other: nil), token)
        XCTAssertNil(cache.freshToken(key: "k", other: token), "the token being replaced is no answer")
        let expired = "eyJhbGciOiJFUzI1NiJ9." + Base64URL.encode(Array(#"{"exp":1000}"#.utf8)) + ".c2ln"
        try cache.store(expired, key: "k")
        XCTAssertNil(cache.freshToken(key: "k", other: nil), "expired by its own claims")
    }

    func testSignInLockIsExclusiveAcrossOpenFilesAndFreedOnRelease() throws {
        let cache = TokenCache(directory: directory)
        guard case .acquired(let held) = SignInLock.tryAcquire(cache: cache, key: "k") else { return XCTFail("first attempt did not get the lock") }
        guard case .heldElsewhere = SignInLock.tryAcquire(cache: cache, key: "k") else { return XCTFail("a second holder got the lock") }
        guard case .acquired(let other) = SignInLock.tryAcquire(cache: cache, key: "other") else { return XCTFail("locks are per gateway") }
        held.release()
        guard case .acquired(let again) = SignInLock.tryAcquire(cache: cache, key: "k") else { return XCTFail("the released lock stayed taken") }
        again.release()
        other.release()
        XCTAssertEqual(try mode(of: cache.lockPath(forKey: "k")) & 0o777, 0o600)
    }

    func testClearRemovesOnlyTokenFiles() throws {
        let cache = TokenCache(directory: directory)
        try cache.store(token, key: "a")
        try cache.store(token, key: "b")
        let leftoverTemporary = ".\(TokenCache.fileName(forKey: "c")).tmp-1f2e3d"
        try write("x", name: leftoverTemporary)
        try write("", name: ".\(TokenCache.fileName(forKey: "a")).lock")
        try write("keep", name: "notes.txt")
        try write("keep", name: "lowercase.jwt")
        try write("keep", name: ".hidden")
        try cache.clear()
        XCTAssertNil(try cache.load(key: "a"))
        XCTAssertNil(try cache.load(key: "b"))
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: directory)), ["notes.txt", "lowercase.jwt", ".hidden"])
        XCTAssertNoThrow(try TokenCache(directory: root + "/nowhere").clear())
    }

    // MARK: - helpers

    /// Writes a cache file the way pomerium-cli does: mode 0600 (anything
    /// looser is refused on load, see TokenCacheRefusalTests).
    private func write(_ text: String, name: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/" + name))
        XCTAssertEqual(chmod(directory + "/" + name, 0o600), 0)
    }

    private func mode(of path: String) throws -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CocoaError(.fileNoSuchFile) }
        return info.st_mode & 0o7777
    }

    private func inode(of path: String) throws -> ino_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CocoaError(.fileNoSuchFile) }
        return info.st_ino
    }
}
