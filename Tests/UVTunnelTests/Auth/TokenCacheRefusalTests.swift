import Foundation
import XCTest
@testable import UVTunnel

/// A cached token is used only if no one else could have planted or read it:
/// looser modes, symbolic links and foreign or open directories are refused
/// with a message that says what to do (the tunnel then signs in instead).
final class TokenCacheRefusalTests: XCTestCase {
    private var root = ""
    private var directory = ""
    private let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
    private let key = "gw.example:443|true"
    private var file: String { directory + "/" + TokenCache.fileName(forKey: key) }

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("uvtunnel-refusal-\(UUID().uuidString)").path
        directory = root + "/pomerium-cli/jwts"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(directory, 0o700), 0)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    private func writeToken(mode: mode_t, at path: String? = nil) throws {
        let path = path ?? file
        try Data(token.utf8).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(chmod(path, mode), 0)
    }

    private func assertRefused(_ words: String..., file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TokenCache(directory: directory).load(key: key), file: file, line: line) { error in
            let message = String(describing: error)
            for word in words { XCTAssertTrue(message.contains(word), "\"\(word)\" missing from: \(message)", file: file, line: line) }
            XCTAssertFalse(message.contains(token), "the message holds the token", file: file, line: line)
        }
    }

    func testPrivateModesAreAccepted() throws {
        for mode: mode_t in [0o600, 0o400] {
            try writeToken(mode: mode)
            XCTAssertEqual(try TokenCache(directory: directory).load(key: key), token, String(mode, radix: 8))
        }
    }

    func testLooserFileModesAreRefused() throws {
        for mode: mode_t in [0o644, 0o640, 0o604, 0o620, 0o602, 0o666] {
            try writeToken(mode: mode)
            assertRefused("has mode 0\(String(mode, radix: 8))", "chmod 600", self.file)
        }
    }

    func testSymbolicLinkToAPrivateTokenIsRefused() throws {
        // Even a link to a perfectly private token: whoever made the link chose what we send.
        let elsewhere = root + "/elsewhere.jwt"
        try writeToken(mode: 0o600, at: elsewhere)
        XCTAssertEqual(symlink(elsewhere, file), 0)
        assertRefused("is a symbolic link", file)
    }

    func testSymbolicLinkedDirectoryIsRefusedForReadingAndWriting() throws {
        let real = root + "/real-jwts"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        XCTAssertEqual(chmod(real, 0o700), 0)
        try writeToken(mode: 0o600, at: real + "/" + TokenCache.fileName(forKey: key))
        try FileManager.default.removeItem(atPath: directory)
        XCTAssertEqual(symlink(real, directory), 0)
        assertRefused("token cache directory", "is a symbolic link")
        XCTAssertThrowsError(try TokenCache(directory: directory).store("new.token.value", key: "other")) { error in
            XCTAssertTrue(String(describing: error).contains("is a symbolic link"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: real + "/" + TokenCache.fileName(forKey: "other")), "written through the link")
    }

    func testDirectoryWritableByOthersIsRefusedButPomeriumCLIs0755IsNot() throws {
        try writeToken(mode: 0o600)
        XCTAssertEqual(chmod(directory, 0o755), 0)  // what pomerium-cli creates
        XCTAssertEqual(try TokenCache(directory: directory).load(key: key), token)
        for mode: mode_t in [0o777, 0o775, 0o757] {
            XCTAssertEqual(chmod(directory, mode), 0)
            assertRefused("writable by other users", "chmod 700")
        }
    }

    func testFileOrDirectoryOwnedBySomeoneElseIsRefused() throws {
        guard geteuid() == 0 else { return XCTFail("needs root to hand a file to another user (CI runs as root)") }
        try writeToken(mode: 0o600)
        XCTAssertEqual(chown(file, 65534, 65534), 0)
        assertRefused("owned by uid 65534, not you")
        XCTAssertEqual(chown(file, 0, 0), 0)
        XCTAssertEqual(chown(directory, 65534, 65534), 0)
        assertRefused("token cache directory", "owned by uid 65534, not you")
    }

    func testMissingDirectoryOrFileIsNoTokenNotAnError() throws {
        XCTAssertNil(try TokenCache(directory: directory).load(key: key))
        XCTAssertNil(try TokenCache(directory: root + "/nowhere").load(key: key))
    }
}
