import Foundation
import Logging
import UVTunnel

/// Picks the token per SPEC's order: --service-account, --service-account-file,
/// then pomerium-cli's cache. (The browser sign-in plugs in after these.)
enum Credentials {
    static func tokenSource(command: TunnelCommand, route: Route, logger: Logger) throws -> TokenSource {
        if let token = command.serviceAccount {
            return FixedTokenSource(token: try checked(token, origin: "--service-account"))
        }
        if let path = command.serviceAccountFile {
            guard let data = FileManager.default.contents(atPath: path), data.count <= 64 * 1024 else {
                throw RuntimeError("--service-account-file \(path): cannot read it (missing, unreadable or over 64 KiB)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return FixedTokenSource(token: try checked(token, origin: "--service-account-file \(path)"))
        }
        return cachedTokenSource(route: route, logger: logger)
    }

    /// A token goes into an HTTP header: refuse anything that could break it.
    private static func checked(_ token: String, origin: String) throws -> String {
        guard !token.isEmpty, token.utf8.count <= 16 * 1024,
              token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw UsageError("\(origin): not a usable token (empty, too long, or contains spaces or control characters)")
        }
        return token
    }

    private static func cachedTokenSource(route: Route, logger: Logger) -> TokenSource {
        let key = TokenCache.key(gatewayAuthority: route.gatewayAuthority, tls: route.useTLS)
        guard let directory = try? TokenCache.defaultDirectory() else { return FixedTokenSource(token: nil) }
        let cache = TokenCache(directory: directory)
        var token: String?
        do {
            token = try cache.load(key: key)
        } catch {
            logger.warning("ignoring the token cache: \(error)")
        }
        if let cached = token, let claims = JWT.unverifiedClaims(cached),
           claims.isExpired(at: Date()) {
            logger.info("the cached token for \(route.gatewayAuthority) has expired; not sending it")
            token = nil
        }
        return FixedTokenSource(token: token) { _ in
            // Only a gateway rejection deletes a cached token (SPEC).
            do { try cache.delete(key: key) } catch { logger.warning("cannot delete the rejected token: \(error)") }
        }
    }
}
