import Foundation
import Logging
import UVTunnel

/// Turns parsed flags into a running tunnel server on one event loop.
struct TunnelRunner {
    let command: TunnelCommand

    func run() throws -> Int32 {
        let (logger, levelWarning) = LogSetup.bootstrap(label: "uvtunnel")
        if let levelWarning { logger.warning("\(levelWarning)") }

        let route: Route
        do {
            route = try Route.parse(command.route, pomeriumURL: command.pomeriumURL)
        } catch {
            throw UsageError(error.message)
        }
        let stdio = command.listen == "-"
        var listenAddress: SocketAddress?
        if !stdio {
            do { listenAddress = try SocketAddress.parseListen(command.listen) } catch { throw UsageError("--listen: \(error.message)") }
        }

        let tls = try makeTLSContext(route: route, logger: logger)
        // A write to a socket the peer closed must be an error, not a signal.
        signal(SIGPIPE, SIG_IGN)
        let loop = try EventLoop()
        let credentials = try Credentials.setup(command: command, route: route, tls: tls, loop: loop, logger: logger)
        var options = TunnelOptions(route: route, tls: route.useTLS ? tls : nil, verifyHostName: !command.disableTLSVerification)
        options.connectTimeoutMilliseconds = UInt64(command.connectTimeout * 1000)
        let server = TunnelServer(loop: loop, options: options, tokens: credentials.tokens, logger: logger)
        var exitCode: Int32 = 0

        var watchers: [SignalWatcher] = []
        server.onDrained = {
            watchers.forEach { $0.close() }
            credentials.coordinator?.close()
            credentials.worker?.stop()
        }
        for signum in [SIGINT, SIGTERM, SIGHUP] {
            watchers.append(try SignalWatcher(loop: loop, signal: signum) { signum in
                logger.info("received signal \(signum): stopping")
                server.shutdown(drainMilliseconds: UInt64(command.drainTimeout * 1000))
            })
        }

        if stdio {
            let local: StdioStream
            do { local = try StdioStream(loop: loop) } catch { throw RuntimeError("--listen -: \(error)") }
            server.onTunnelClosed = { outcome in
                if outcome != .completed { exitCode = 1 }
                server.shutdown(drainMilliseconds: 0)
            }
            server.open(local: local)
        } else if let listenAddress {
            let bound: SocketAddress
            do { bound = try server.listen(on: listenAddress) } catch {
                throw RuntimeError("cannot listen on \(listenAddress): \(error.reason)")
            }
            if !bound.isLoopback {
                logger.warning("listening on \(bound), which is not loopback: anyone who can reach it rides on your sign-in; use --listen 127.0.0.1:\(bound.port) unless that is what you want")
            }
            FileHandle.standardError.write(Data("uvtunnel: listening on \(bound), tunnelling to \(route.destination) via \(route.useTLS ? "https" : "http")://\(route.gatewayAuthority)\n".utf8))
        }

        loop.run()
        loop.close()
        return exitCode
    }

    /// Built even for an http:// gateway: its login call may redirect to https.
    private func makeTLSContext(route: Route, logger: Logger) throws -> TLSContext {
        var tlsOptions = TLSClientOptions()
        tlsOptions.verifyPeer = !command.disableTLSVerification
        if command.disableTLSVerification && route.useTLS {
            logger.warning("TLS verification is off (--disable-tls-verification): the gateway's identity is not checked")
        }
        tlsOptions.extraCAFile = command.alternateCAPath
        if let encoded = command.caCert {
            guard let data = Data(base64Encoded: encoded.trimmingCharacters(in: .whitespacesAndNewlines), options: .ignoreUnknownCharacters),
                  let pem = String(data: data, encoding: .utf8), pem.contains("-----BEGIN") else {
                throw UsageError("--ca-cert must be a base64-encoded PEM certificate (e.g. base64 -w0 ca.pem)")
            }
            tlsOptions.extraCAPEM = pem
        }
        tlsOptions.clientCertificateFile = command.clientCert
        tlsOptions.clientKeyFile = command.clientKey
        do {
            return try TLSContext.client(tlsOptions)
        } catch {
            throw RuntimeError(error.message)
        }
    }
}
