import FuzzSupport
import Foundation
import UVTunnel

/// TokenCache.load on whatever a cache file holds: the file is shared with
/// pomerium-cli and Pomerium Desktop, and anything that can write to the
/// user's cache directory controls it. Input: [unused:2][file contents].
FuzzMain.run(fuzzTokenCache)

/// One private directory for the whole run (a static: see FuzzJWT). In
/// memory when /dev/shm exists: on ext4 every truncate or rename over a file
/// forces its blocks to disk, which made a run a few hundred inputs a second.
private enum Fixed {
    static let cache: TokenCache = {
        let base = access("/dev/shm", W_OK) == 0 ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        let directory = base.appendingPathComponent("uvtunnel-fuzz-cache-\(getpid())").path
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        atexit { try? FileManager.default.removeItem(atPath: Fixed.cache.directory) }
        return TokenCache(directory: directory)
    }()
    static let key = TokenCache.key(gatewayAuthority: "gw.example:443", tls: true)
    static let path = (cache.directory as NSString).appendingPathComponent(TokenCache.fileName(forKey: key))
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzTokenCache(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let contents = Array(FuzzInput(data, size).bytes)
    writeFile(contents)
    let token: String?
    do {
        token = try Fixed.cache.load(key: Fixed.key)
    } catch {
        Fuzz.checkLogLine(error.message, "load error")
        Fuzz.check(contents.count > TokenCache.maximumFileSize || String(validating: contents, as: UTF8.self) == nil,
                   "a small UTF-8 file was refused: \(error.message)")
        return 0
    }
    Fuzz.check(contents.count <= TokenCache.maximumFileSize, "an oversized file was read")
    guard let token else {
        Fuzz.check(!contents.contains { (0x21...0x7E).contains($0) }, "a file with visible ASCII gave no token")
        return 0
    }
    Fuzz.check(!token.isEmpty, "empty token")
    Fuzz.check(token == token.trimmingCharacters(in: .whitespacesAndNewlines), "token not trimmed")
    Fuzz.check(String(decoding: contents, as: UTF8.self).contains(token), "token not from the file")

    // Stored back, a well-formed token is written as is (pomerium-cli reads
    // the raw file) and loads to itself; anything else is refused.
    do {
        try Fixed.cache.store(token, key: Fixed.key)
        Fuzz.equal(readFile(), Array(token.utf8), "file written for the token")
        Fuzz.equal(try Fixed.cache.load(key: Fixed.key), token, "load after store")
    } catch {
        Fuzz.checkLogLine(error.message, "store error")
        // The same words for any refused token: this one is not in them.
        do {
            try Fixed.cache.store("not a token", key: Fixed.key)
            Fuzz.fail("a token with spaces was stored")
        } catch let other {
            Fuzz.equal(error.message, other.message, "store error depends on the token")
        }
    }
    return 0
}

private func writeFile(_ bytes: [UInt8]) {
    let fd = open(Fixed.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    Fuzz.check(fd >= 0, "cannot write \(Fixed.path)")
    defer { close(fd) }
    Fuzz.equal(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, bytes.count, "bytes written")
}

private func readFile() -> [UInt8] {
    (FileManager.default.contents(atPath: Fixed.path)).map(Array.init) ?? []
}
