import Foundation
import Logging
import UVTunnel

/// Picks the token per SPEC's order: --service-account, --service-account-file,
/// then pomerium-cli's cache, then the browser sign-in.
enum Credentials {
    /// What the runner must start and stop besides the tunnels.
    struct Setup {
        var tokens: TokenSource
        var coordinator: SignInCoordinator?
        var worker: SignInWorker?
    }

    static func setup(command: TunnelCommand, route: Route, tls: TLSContext, loop: EventLoop, logger: Logger) throws -> Setup {
        if let token = command.serviceAccount {
            return Setup(tokens: FixedTokenSource(token: try checked(token, origin: "--service-account")))
        }
        if let path = command.serviceAccountFile {
            guard let data = FileManager.default.contents(atPath: path), data.count <= 64 * 1024 else {
                throw RuntimeError("--service-account-file \(path): cannot read it (missing, unreadable or over 64 KiB)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return Setup(tokens: FixedTokenSource(token: try checked(token, origin: "--service-account-file \(path)")))
        }
        var cache: TokenCache?
        do {
            cache = TokenCache(directory: try TokenCache.defaultDirectory())
        } catch {
            logger.warning("no token cache: \(error)")
        }
        let settings = SignInSettings(route: route, tls: tls, verifyHostName: !command.disableTLSVerification,
                                      browserCommand: command.browserCommand.map(splitCommand), openBrowser: !command.noBrowser,
                                      cache: cache)
        var cached: String?
        if let cache {
            // Read once, before the loop runs; later cache I/O is on the sign-in thread.
            do { cached = try cache.load(key: settings.cacheKey) } catch { logger.warning("ignoring the cached token: \(error)") }
        }
        var coordinator: SignInCoordinator?
        let worker = try SignInWorker(loop: loop, logger: logger) { event in coordinator?.handle(event) }
        let made = SignInCoordinator(loop: loop, settings: settings, worker: worker, cachedToken: cached,
                                     authTimeoutMilliseconds: UInt64(command.authTimeout * 1000), logger: logger)
        coordinator = made
        return Setup(tokens: made, coordinator: made, worker: worker)
    }

    /// `--browser-cmd "chromium --headless"`: program and its leading arguments.
    static func splitCommand(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// A token goes into an HTTP header: refuse anything that could break it.
    private static func checked(_ token: String, origin: String) throws -> String {
        guard !token.isEmpty, token.utf8.count <= 16 * 1024,
              token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw UsageError("\(origin): not a usable token (empty, too long, or contains spaces or control characters)")
        }
        return token
    }
}
