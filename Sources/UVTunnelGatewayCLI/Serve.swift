import ArgumentParser
import Foundation
import Logging
import UVTunnel
import UVTunnelGateway

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default).")

    @OptionGroup var state: StateOptions

    @Option(help: ArgumentHelp("Address to listen on; the bound address is printed on stdout.", valueName: "addr"))
    var listen: String = "127.0.0.1:0"

    @Option(name: .customLong("ca-out"), help: ArgumentHelp("Write the certificate clients should trust to this path.", valueName: "file"))
    var caOut: String?

    @Option(help: ArgumentHelp("PEM certificate to serve instead of the generated one.", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("PEM key for --cert.", valueName: "file"))
    var key: String?

    @Option(name: .customLong("client-ca"), help: ArgumentHelp("Require client certificates signed by this CA (mutual TLS).", valueName: "file"))
    var clientCA: String?

    @Flag(help: "Serve plain HTTP instead of TLS (for --pomerium-url http:// clients).")
    var plain = false

    @Flag(name: .customLong("no-http2"), help: "Offer only http/1.1 in ALPN (tests of a client's fallback); by default h2 is offered first.")
    var noHTTP2 = false

    @Flag(name: .customLong("allow-anonymous"), help: "Admit requests without a token (benchmarks, third-party clients).")
    var allowAnonymous = false

    @Option(help: ArgumentHelp("Allowed destinations: loopback (default), *, HOST:PORT, HOST:*, *:PORT; repeatable.", valueName: "pattern"))
    var allow: [String] = []

    @Flag(name: .customLong("auto-approve"), help: "The sign-in page approves at once, without a click (scripts, headless browsers).")
    var autoApprove = false

    @Option(name: .customLong("token-ttl"), help: ArgumentHelp("Lifetime in seconds of tokens issued by the sign-in page.", valueName: "seconds"))
    var tokenTTL: Int64 = 3600

    @Option(name: .customLong("allow-file"), help: ArgumentHelp("File of --allow patterns, one per line; re-read on SIGHUP.", valueName: "file"))
    var allowFile: String?

    @Option(name: .customLong("answer-status"), help: ArgumentHelp("Answer every CONNECT with this status (testing).", valueName: "code"))
    var answerStatus: Int?

    @Option(name: .customLong("handshake-timeout"), help: ArgumentHelp("Seconds a client has for TLS and its CONNECT request (default 10; load tests opening thousands at once need more).", valueName: "seconds"))
    var handshakeTimeout: Double = 10

    @Option(name: .customLong("target-connect-timeout"), help: ArgumentHelp("Seconds to reach a CONNECT's destination before answering 504 (default 10).", valueName: "seconds"))
    var targetConnectTimeout: Double = 10

    func validate() throws {
        guard handshakeTimeout > 0, handshakeTimeout <= 86_400 else {
            throw ValidationError("--handshake-timeout must be more than 0 and at most 86400 seconds")
        }
        guard targetConnectTimeout > 0, targetConnectTimeout <= 86_400 else {
            throw ValidationError("--target-connect-timeout must be more than 0 and at most 86400 seconds")
        }
        if let answerStatus, !(100...599).contains(answerStatus) {
            throw ValidationError("--answer-status must be 100-599")
        }
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
    }

    /// `--allow` values plus the lines of `--allow-file` (# comments allowed).
    private func policy() throws -> DestinationPolicy {
        var patterns = allow
        if let allowFile {
            let text = try String(contentsOfFile: allowFile, encoding: .utf8)
            patterns += text.split(separator: "\n").map { $0.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? "" }
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if patterns.isEmpty { return DestinationPolicy(rules: []) }  // an empty file allows nothing
        }
        return try DestinationPolicy.parse(patterns)
    }

    func run() throws {
        let (logger, levelWarning) = LogSetup.bootstrap(label: "uvtunnel-gateway")
        if let levelWarning { logger.warning("\(levelWarning)") }
        let files = try GatewayState(directory: state.stateDirectory)
        let signingKey = try files.signingKey()

        var tls: TLSContext?
        if !plain {
            var pair = try files.certificate()
            if let cert, let key {
                pair = (try String(contentsOfFile: cert, encoding: .utf8), try String(contentsOfFile: key, encoding: .utf8))
            }
            if let caOut {
                guard FileManager.default.createFile(atPath: caOut, contents: Data(pair.certificatePEM.utf8)) else {
                    throw GatewayError("--ca-out \(caOut): cannot write it")
                }
            }
            let clientCAPEM = try clientCA.map { try String(contentsOfFile: $0, encoding: .utf8) }
            tls = try TLSContext.server(certificatePEM: pair.certificatePEM, privateKeyPEM: pair.privateKeyPEM, clientCAPEM: clientCAPEM)
            // HTTP/2 CONNECT streams (many tunnels per connection) unless --no-http2.
            tls?.selectALPN(noHTTP2 ? ["http/1.1"] : ["h2", "http/1.1"])
        }

        let verify: ((String) -> GatewayOptions.TokenVerdict)? = allowAnonymous ? nil : { token in
            do {
                _ = try JWT.verify(token, key: signingKey)
                return .valid
            } catch {
                return .invalid("\(error)")
            }
        }
        var options = GatewayOptions(tls: tls, verifyToken: verify,
                                     destinations: try policy(), forcedStatus: answerStatus)
        let ttl = tokenTTL
        options.issueToken = {
            let now = Int64(Date().timeIntervalSince1970)
            return try? JWT.issue(TokenClaims(sub: "signed-in-user", exp: now + ttl, iat: now), key: signingKey)
        }
        options.autoApprove = autoApprove
        options.handshakeTimeoutMilliseconds = UInt64(handshakeTimeout * 1000)
        options.targetConnectTimeoutMilliseconds = UInt64(targetConnectTimeout * 1000)
        signal(SIGPIPE, SIG_IGN)
        let loop = try EventLoop()
        let server = GatewayServer(loop: loop, options: options, logger: logger)
        let bound = try server.listen(on: try SocketAddress.parseListen(listen))
        var watchers: [SignalWatcher] = []
        for signum in [SIGINT, SIGTERM] {
            watchers.append(try SignalWatcher(loop: loop, signal: signum) { _ in
                server.close()
                watchers.forEach { $0.close() }
            })
        }
        watchers.append(try SignalWatcher(loop: loop, signal: SIGHUP) { _ in
            do {
                server.setDestinations(try policy())
                logger.info("policy reloaded")
            } catch {
                logger.error("policy reload rejected, keeping the old one: \(error)")
            }
        })
        // Unbuffered, so a script or test reading our stdout learns the port at once.
        FileHandle.standardOutput.write(Data("uvtunnel-gateway: listening on \(bound)\n".utf8))
        loop.run()
        loop.close()
    }
}
