import Foundation
import Logging
import UVTunnel

/// A `TunnelEntry` checked and turned into what the loop runs: parsed route
/// and address, TLS context, token choice. Preparing every entry before
/// changing anything is what lets a bad config reload leave the running set
/// untouched.
struct PreparedEntry {
    enum Tokens {
        case fixed(String)
        case signIn(SignInSettings, cached: String?, authTimeout: Double)
    }

    /// Why an entry cannot run; `usage` means a bad value (exit 2 on the command line).
    struct Failure: Error, CustomStringConvertible {
        var usage: Bool
        var description: String
    }

    let entry: TunnelEntry
    let route: Route
    /// nil for `--listen -` (stdin/stdout).
    let listen: SocketAddress?
    let options: TunnelOptions
    let tokens: Tokens
    /// `--multiplex` to an https:// gateway: a context offering ALPN h2 first.
    let multiplexTLS: TLSContext?

    init(_ entry: TunnelEntry, logger: Logger) throws(Failure) {
        self.entry = entry
        do {
            route = try Route.parse(entry.route, pomeriumURL: entry.pomeriumURL, spelling: entry.spelling, kind: entry.protocol)
        } catch {
            throw Failure(usage: true, description: error.message)
        }
        if entry.listen == "-" {
            listen = nil
        } else {
            do { listen = try SocketAddress.parseListen(entry.listen) } catch {
                throw Failure(usage: true, description: "\(entry.spelling.name(TunnelOption.listen.key)): \(error.message)")
            }
        }
        let tls = try Self.tlsContext(entry, route: route, logger: logger)
        multiplexTLS = entry.multiplex && route.useTLS
            ? try Self.tlsContext(entry, route: route, alpn: ["h2", "http/1.1"], logger: nil) : nil
        var options = TunnelOptions(route: route, tls: route.useTLS ? tls : nil, verifyHostName: !entry.disableTLSVerification)
        options.connectTimeoutMilliseconds = UInt64(entry.connectTimeout * 1000)
        options.maxLifetimeMilliseconds = entry.maxTunnelLifetime.map { UInt64($0 * 1000) }
        options.egressProxy = try Self.egressProxy(entry, route: route, logger: logger)
        do { options.allowFrom = try entry.allowedClients() } catch {
            throw Failure(usage: true, description: error.message)
        }
        options.hints = FailureHintText.hints(entry.spelling)
        options.spelling = entry.spelling
        self.options = options
        tokens = try Self.tokens(entry, route: route, tls: tls, egressProxy: options.egressProxy, logger: logger)
    }

    /// Built even for an http:// gateway: its login call may redirect to https.
    /// `logger`: where the warning about verification goes (given once per entry).
    private static func tlsContext(_ entry: TunnelEntry, route: Route, alpn: [String] = ["http/1.1"],
                                   logger: Logger?) throws(Failure) -> TLSContext {
        var tlsOptions = TLSClientOptions()
        tlsOptions.verifyPeer = !entry.disableTLSVerification
        tlsOptions.spelling = entry.spelling
        tlsOptions.alpnProtocols = alpn
        if entry.disableTLSVerification && route.useTLS {
            logger?.warning("TLS verification is off (\(entry.spelling.name(TunnelOption.disableTLSVerification.key))) for \(route.gatewayAuthority): the gateway's identity is not checked")
        }
        tlsOptions.extraCAFile = entry.alternateCAPath
        if let encoded = entry.caCert {
            guard let data = Data(base64Encoded: encoded.trimmingCharacters(in: .whitespacesAndNewlines), options: .ignoreUnknownCharacters),
                  let pem = String(data: data, encoding: .utf8), pem.contains("-----BEGIN") else {
                throw Failure(usage: true, description: "\(entry.spelling.name(TunnelOption.caCert.key)) must be a base64-encoded PEM certificate (e.g. base64 -w0 ca.pem)")
            }
            tlsOptions.extraCAPEM = pem
        }
        tlsOptions.clientCertificateFile = entry.clientCert
        tlsOptions.clientKeyFile = entry.clientKey
        do {
            return try TLSContext.client(tlsOptions)
        } catch {
            throw Failure(usage: false, description: error.message)
        }
    }

    private static func tokens(_ entry: TunnelEntry, route: Route, tls: TLSContext, egressProxy: EgressProxy,
                               logger: Logger) throws(Failure) -> Tokens {
        if let token = entry.serviceAccount {
            return .fixed(try checked(token, origin: entry.spelling.name(TunnelOption.serviceAccount.key)))
        }
        if let path = entry.serviceAccountFile {
            guard let data = FileManager.default.contents(atPath: path), data.count <= 64 * 1024 else {
                throw Failure(usage: false, description: "\(entry.spelling.name(TunnelOption.serviceAccountFile.key)) \(path): cannot read it (missing, unreadable or over 64 KiB)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return .fixed(try checked(token, origin: "\(entry.spelling.name(TunnelOption.serviceAccountFile.key)) \(path)"))
        }
        var cache: TokenCache?
        do {
            cache = TokenCache(directory: try TokenCache.defaultDirectory())
        } catch {
            logger.warning("no token cache: \(error)")
        }
        var settings = SignInSettings(route: route, tls: tls, verifyHostName: !entry.disableTLSVerification,
                                      browserCommand: entry.browserCommand.map(Credentials.splitCommand),
                                      openBrowser: !entry.noBrowser, cache: cache)
        settings.egressProxy = egressProxy  // the login call goes the same way as the tunnels
        settings.spelling = entry.spelling
        var cached: String?
        if let cache {
            do { cached = try cache.load(key: settings.cacheKey) } catch { logger.warning("ignoring the cached token: \(error)") }
        }
        return .signIn(settings, cached: cached, authTimeout: entry.authTimeout)
    }

    /// A token goes into an HTTP header: refuse anything that could break it.
    private static func checked(_ token: String, origin: String) throws(Failure) -> String {
        guard !token.isEmpty, token.utf8.count <= 16 * 1024,
              token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw Failure(usage: true, description: "\(origin): not a usable token (empty, too long, or contains spaces or control characters)")
        }
        return token
    }

    /// A UDP entry's listener limits (`udp-idle-timeout`, `udp-max-sessions`).
    var udpSettings: UDPTunnelServer.Settings {
        var settings = UDPTunnelServer.Settings()
        settings.idleMilliseconds = UInt64(entry.udpIdleTimeout * 1000)
        settings.maxSessions = entry.udpMaxSessions
        return settings
    }

    /// How this entry's tunnels reach the gateway: nil for the default (one
    /// HTTP/1.1 connection per tunnel), or HTTP/2 connections shared by every
    /// entry that reaches the same gateway the same way.
    func connector(loop: EventLoop, registry: HTTP2ConnectorRegistry, logger: Logger) -> GatewayConnector? {
        guard entry.multiplex else { return nil }
        var settings = HTTP2Settings()
        settings.maxStreams = entry.maxStreamsPerConnection
        settings.earlyData = entry.earlyData
        return registry.lease(key: gatewayKey, timeoutMilliseconds: options.connectTimeoutMilliseconds) {
            HTTP2Connector(loop: loop, options: options, tls: multiplexTLS, settings: settings, logger: logger)
        }
    }

    /// What makes two entries' gateway connections interchangeable: the
    /// gateway, everything that shapes the TLS handshake, the egress proxy,
    /// the stream limit, early data. (The destination, token and timeouts are per tunnel.)
    private var gatewayKey: String {
        let parts: [String?] = [route.useTLS ? "https" : "http", route.gatewayAuthority, String(entry.disableTLSVerification),
                                entry.alternateCAPath, entry.caCert, entry.clientCert, entry.clientKey, entry.egressProxy,
                                String(entry.maxStreamsPerConnection), entry.earlyData ? "early-data" : "no-early-data"]
        return parts.map { $0 ?? "-" }.joined(separator: "\u{0}")
    }
}
