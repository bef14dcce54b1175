import ArgumentParser
import Foundation
import UVTunnel

/// `uvtunnel [--listen ADDR] [options] ROUTE`: flag names match pomerium-cli's
/// `tcp` command so existing scripts keep working.
struct TunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvtunnel",
        abstract: "Carry local TCP connections through an identity-aware gateway (Pomerium) over TLS and HTTP CONNECT.",
        discussion: """
        ROUTE is host:port, tcp+https://host:port, or https://gateway[:port]/host:port.
        Every connection to the --listen address is tunnelled to ROUTE's destination.
        `uvtunnel tcp ...` is accepted too, as with pomerium-cli.
        """,
        version: UVTunnelVersion.string
    )

    @Argument(help: "Destination: host:port, tcp+https://host:port, or https://gateway/host:port.")
    var route: String

    @Option(help: ArgumentHelp("Local address to listen on; `-` carries one connection over stdin/stdout.", valueName: "addr"))
    var listen: String = "127.0.0.1:0"

    @Option(name: .customLong("pomerium-url"), help: ArgumentHelp("Gateway URL, overriding the one derived from ROUTE (http:// means no TLS).", valueName: "url"))
    var pomeriumURL: String?

    @Flag(name: .customLong("disable-tls-verification"), help: "Do not verify the gateway's certificate (testing only).")
    var disableTLSVerification = false

    @Option(name: .customLong("alternate-ca-path"), help: ArgumentHelp("PEM file of CA certificates to trust besides the system store.", valueName: "file"))
    var alternateCAPath: String?

    @Option(name: .customLong("ca-cert"), help: ArgumentHelp("Base64-encoded PEM CA certificate to trust.", valueName: "base64"))
    var caCert: String?

    @Option(name: .customLong("client-cert"), help: ArgumentHelp("PEM client certificate for mutual TLS.", valueName: "file"))
    var clientCert: String?

    @Option(name: .customLong("client-key"), help: ArgumentHelp("PEM private key for --client-cert.", valueName: "file"))
    var clientKey: String?

    @Option(name: .customLong("browser-cmd"), help: ArgumentHelp("Command that opens the sign-in URL (default xdg-open).", valueName: "cmd"))
    var browserCommand: String?

    @Flag(name: .customLong("no-browser"), help: "Do not start a browser for sign-in; only print the URL.")
    var noBrowser = false

    @Option(name: .customLong("auth-timeout"), help: ArgumentHelp("Seconds a sign-in may take before waiting connections are closed.", valueName: "seconds"))
    var authTimeout: Double = 180

    @Option(name: .customLong("service-account"), help: ArgumentHelp("Service account JWT to send instead of signing in.", valueName: "jwt"))
    var serviceAccount: String?

    @Option(name: .customLong("service-account-file"), help: ArgumentHelp("File holding a service account JWT.", valueName: "file"))
    var serviceAccountFile: String?

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp("Seconds allowed for TCP connect + TLS + CONNECT answer.", valueName: "seconds"))
    var connectTimeout: Double = 15

    @Option(name: .customLong("drain-timeout"), help: ArgumentHelp("Seconds open tunnels may run on after SIGINT/SIGTERM.", valueName: "seconds"))
    var drainTimeout: Double = 10

    func validate() throws {
        guard connectTimeout > 0, connectTimeout <= 3600 else {
            throw ValidationError("--connect-timeout must be between 0 and 3600 seconds, got \(connectTimeout)")
        }
        guard drainTimeout >= 0, drainTimeout <= 86400 else {
            throw ValidationError("--drain-timeout must be between 0 and 86400 seconds, got \(drainTimeout)")
        }
        guard authTimeout > 0, authTimeout <= 86400 else {
            throw ValidationError("--auth-timeout must be between 0 and 86400 seconds, got \(authTimeout)")
        }
        if let browserCommand, Credentials.splitCommand(browserCommand).isEmpty {
            throw ValidationError("--browser-cmd is empty; give a program, e.g. --browser-cmd firefox")
        }
        if serviceAccount != nil && serviceAccountFile != nil {
            throw ValidationError("give --service-account or --service-account-file, not both")
        }
        if (clientCert == nil) != (clientKey == nil) {
            throw ValidationError("--client-cert and --client-key must be given together")
        }
    }

    func run() throws {
        let code = try TunnelRunner(command: self).run()
        if code != 0 { throw ExitCode(code) }
    }
}
