import CShims
import Foundation

/// pomerium-cli's on-disk JWT cache, laid out exactly as pomerium-cli
/// (github.com/pomerium/cli, jwt/jwtcache.go `LocalJWTCache`) lays it out, so a
/// user signed in with pomerium-cli or Pomerium Desktop is signed in here too:
///
/// - directory: `os.UserCacheDir()/pomerium-cli/jwts` (internal/cache/cache.go),
///   i.e. `$XDG_CACHE_HOME` (must be absolute) or `$HOME/.cache`;
/// - key: `"<proxy host:port>|<true|false>"` (`fmt.Sprintf("%s|%v", host, tlsConfig != nil)`);
/// - file: `base36.EncodeBytes(HMAC-SHA512/256(key: "LocalJWTCache", key)) + ".jwt"`;
/// - content: the raw JWT, no trailing newline (`os.WriteFile(path, []byte(rawJWT), 0o600)`).
///
/// Deliberately stricter than pomerium-cli: the directory is 0700 rather than
/// 0755, and files are replaced atomically instead of rewritten in place.
public struct TokenCache: Sendable {
    /// Nothing legitimately in this cache is near this size; bigger files are refused unread.
    public static let maximumFileSize = 64 * 1024

    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Where pomerium-cli keeps its tokens on Linux, following Go's os.UserCacheDir:
    /// a non-empty `XDG_CACHE_HOME` (which must be absolute; Go refuses a relative
    /// one rather than falling back), else `HOME/.cache`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) throws(TokenCacheError) -> String {
        let cacheRoot: String
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            guard xdg.hasPrefix("/") else {
                throw TokenCacheError(path: xdg, message: "XDG_CACHE_HOME=\(xdg) is a relative path; set it to an absolute path or unset it")
            }
            cacheRoot = xdg
        } else if let home = environment["HOME"], !home.isEmpty {
            cacheRoot = (home as NSString).appendingPathComponent(".cache")
        } else {
            throw TokenCacheError(path: "", message: "cannot locate the token cache: neither XDG_CACHE_HOME nor HOME is set; set one of them")
        }
        return ((cacheRoot as NSString).appendingPathComponent("pomerium-cli") as NSString).appendingPathComponent("jwts")
    }

    /// The cache key pomerium-cli uses: the gateway's `host:port` as dialled
    /// (pomerium-cli always adds the port: 443 for https, 80 otherwise; IPv6
    /// hosts in brackets) and whether the connection uses TLS.
    public static func key(gatewayAuthority: String, tls: Bool) -> String {
        "\(gatewayAuthority)|\(tls ? "true" : "false")"
    }

    /// The file name pomerium-cli gives the token for `key`.
    public static func fileName(forKey key: String) -> String {
        Base36.encode(hmacSHA512_256(tag: "LocalJWTCache", data: Array(key.utf8))) + ".jwt"
    }

    /// The cached token for `key`, whitespace-trimmed, or nil when there is none.
    /// Throws for a file or directory another user could have written or read
    /// (see `PrivateFiles.readPrivate`); the caller then signs in instead.
    public func load(key: String) throws(TokenCacheError) -> String? {
        let path = self.path(forKey: key)
        guard let bytes = try PrivateFiles.readPrivate(directory: directory, name: TokenCache.fileName(forKey: key),
                                                       limit: TokenCache.maximumFileSize) else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TokenCacheError(path: path, message: "token file \(path) is not UTF-8 text (remove it)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }

    /// Saves `token` for `key`, replacing any previous one atomically.
    public func store(_ token: String, key: String) throws(TokenCacheError) {
        let path = self.path(forKey: key)
        // A compact JWS is only base64url and dots. Refusing anything else keeps
        // junk (or a stray newline, which pomerium-cli would not trim) out of a
        // file another tool reads.
        guard !token.isEmpty, token.utf8.count <= TokenCache.maximumFileSize,
              token.utf8.allSatisfy(TokenCache.isTokenByte)
        else {
            throw TokenCacheError(path: path, message: "refusing to store a token that is not a compact JWT in \(path)")
        }
        try PrivateFiles.makePrivateDirectory(directory)
        try PrivateFiles.writeAtomically(Array(token.utf8), to: path, temporaryPrefix: TokenCache.temporaryPrefix(forKey: key))
    }

    /// Forgets the token for `key`; nothing cached is not an error.
    public func delete(key: String) throws(TokenCacheError) {
        try PrivateFiles.remove(path(forKey: key))
    }

    /// Forgets the token for `key` only if it is still `token`: another
    /// process may have stored a fresh one since `token` was rejected.
    public func delete(key: String, ifStill token: String) throws(TokenCacheError) {
        guard (try? load(key: key)) == token else { return }
        try delete(key: key)
    }

    /// A usable token for `key` other than `stale`: unexpired by its own
    /// claims. A sign-in waits for one stored by another process.
    public func freshToken(key: String, other stale: String?, now: Date = Date()) -> String? {
        guard let token = try? load(key: key), token != stale else { return nil }
        if let exp = JWT.unverifiedClaims(token)?.exp, Date(timeIntervalSince1970: TimeInterval(exp)) <= now { return nil }
        return token
    }

    /// The file whose flock elects the process that signs in (`SignInLock`).
    func lockPath(forKey key: String) -> String {
        (directory as NSString).appendingPathComponent(".\(TokenCache.fileName(forKey: key)).lock")
    }

    /// Removes every token file this cache could have written (and temporary
    /// files a crash left behind), leaving anything else in the directory alone.
    public func clear() throws(TokenCacheError) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return
        } catch {
            throw TokenCacheError(path: directory, message: "cannot list token cache directory \(directory): \(error.localizedDescription) (check its permissions)")
        }
        for name in names where TokenCache.isOwnedFileName(name) {
            try PrivateFiles.remove((directory as NSString).appendingPathComponent(name))
        }
    }

    // MARK: - Helpers

    private func path(forKey key: String) -> String {
        (directory as NSString).appendingPathComponent(TokenCache.fileName(forKey: key))
    }

    /// Hidden, and not ending in ".jwt", so neither tool mistakes a half-written file for a token.
    private static func temporaryPrefix(forKey key: String) -> String {
        ".\(fileName(forKey: key)).tmp-"
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }

    /// "<base36>.jwt" (a 32-byte hash is at most 50 digits plus one "0" per
    /// leading zero byte), or our temporary ".<that>.tmp-<hex>".
    static func isOwnedFileName(_ name: String) -> Bool {
        func isHashName(_ candidate: Substring) -> Bool {
            guard candidate.hasSuffix(".jwt") else { return false }
            let digits = candidate.dropLast(4)
            return (1...82).contains(digits.count) && digits.utf8.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            }
        }
        if isHashName(name[...]) { return true }
        // The sign-in lock, ".<hash>.jwt.lock".
        if name.hasPrefix("."), name.hasSuffix(".lock"), isHashName(name.dropFirst().dropLast(5)) { return true }
        guard name.hasPrefix("."), let marker = name.range(of: ".tmp-") else { return false }
        let suffix = name[marker.upperBound...]
        return isHashName(name[name.index(after: name.startIndex)..<marker.lowerBound])
            && !suffix.isEmpty && suffix.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// HMAC-SHA512/256, as pomerium's cryptutil.Hash(tag, data) computes it.
    /// It cannot fail for in-memory inputs with the default provider; if OpenSSL
    /// lacks SHA-512/256 altogether, no cache file could be named, so stop loudly.
    private static func hmacSHA512_256(tag: String, data: [UInt8]) -> [UInt8] {
        let key = Array(tag.utf8)
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        ERR_clear_error()
        let result = HMAC(EVP_sha512_256(), key, Int32(key.count), data, data.count, &digest, &length)
        precondition(result != nil && length == 32, "OpenSSL cannot compute HMAC-SHA512/256: \(CryptoError.openSSL("HMAC"))")
        return Array(digest.prefix(Int(length)))
    }
}
