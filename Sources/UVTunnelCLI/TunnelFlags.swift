import ArgumentParser
import UVTunnel

/// The flags of one tunnel, shared by `uvtunnel` and `uvtunnel exec`; names
/// match pomerium-cli's `tcp` command so existing scripts keep working.
struct TunnelFlags: ParsableArguments {
    @Option(name: .customLong(TunnelOption.listen.key), help: ArgumentHelp("Local address to listen on; `-` carries one connection over stdin/stdout.", valueName: "addr"))
    var listen: String = "127.0.0.1:0"

    @Option(name: .customLong(TunnelOption.pomeriumURL.key), help: ArgumentHelp("Gateway URL, overriding the one derived from ROUTE (http:// means no TLS).", valueName: "url"))
    var pomeriumURL: String?

    @Flag(name: .customLong(TunnelOption.disableTLSVerification.key), help: "Do not verify the gateway's certificate (testing only).")
    var disableTLSVerification = false

    @Option(name: .customLong(TunnelOption.alternateCAPath.key), help: ArgumentHelp("PEM file of CA certificates to trust besides the system store.", valueName: "file"))
    var alternateCAPath: String?

    @Option(name: .customLong(TunnelOption.caCert.key), help: ArgumentHelp("Base64-encoded PEM CA certificate to trust.", valueName: "base64"))
    var caCert: String?

    @Option(name: .customLong(TunnelOption.clientCert.key), help: ArgumentHelp("PEM client certificate for mutual TLS.", valueName: "file"))
    var clientCert: String?

    @Option(name: .customLong(TunnelOption.clientKey.key), help: ArgumentHelp("PEM private key for --client-cert.", valueName: "file"))
    var clientKey: String?

    @Option(name: .customLong(TunnelOption.browserCommand.key), help: ArgumentHelp("Command that opens the sign-in URL (default xdg-open).", valueName: "cmd"))
    var browserCommand: String?

    @Flag(name: .customLong(TunnelOption.noBrowser.key), help: "Do not start a browser for sign-in; only print the URL.")
    var noBrowser = false

    @Option(name: .customLong(TunnelOption.authTimeout.key), help: ArgumentHelp("How long a sign-in may take before waiting connections are closed (90, 500ms, 3m, 1h30m; default 180 s).", valueName: "duration"), transform: DurationFlag.seconds)
    var authTimeout: Double = 180

    @Option(name: .customLong(TunnelOption.serviceAccount.key), help: ArgumentHelp("Service account JWT to send instead of signing in.", valueName: "jwt"))
    var serviceAccount: String?

    @Option(name: .customLong(TunnelOption.serviceAccountFile.key), help: ArgumentHelp("File holding a service account JWT.", valueName: "file"))
    var serviceAccountFile: String?

    @Option(name: .customLong(TunnelOption.egressProxy.key), help: ArgumentHelp("HTTP proxy to reach the gateway through with CONNECT, http://[USER:PASSWORD@]HOST:PORT; default HTTPS_PROXY/HTTP_PROXY; NO_PROXY applies; \"\" for none.", valueName: "url"))
    var egressProxy: String?

    @Option(name: .customLong(TunnelOption.connectTimeout.key), help: ArgumentHelp("Time allowed for TCP connect + TLS + CONNECT answer (default 15 s).", valueName: "duration"), transform: DurationFlag.seconds)
    var connectTimeout: Double = 15

    @Option(name: .customLong(TunnelOption.maxTunnelLifetime.key), help: ArgumentHelp("Close each tunnel after this long (e.g. 8h).", valueName: "duration"), transform: DurationFlag.seconds)
    var maxTunnelLifetime: Double?

    @Option(name: .customLong(TunnelOption.recheckInterval.key), help: ArgumentHelp("At this interval (e.g. 5m) ask the gateway whether the token is still admitted; close the route's tunnels if not.", valueName: "duration"), transform: DurationFlag.seconds)
    var recheckInterval: Double?

    @Option(name: .customLong(TunnelOption.allowFrom.key), help: ArgumentHelp("Admit only local clients from these networks (e.g. 10.0.0.0/8,192.168.1.7,fd00::/8); for a listener that is not loopback.", valueName: "cidr,..."))
    var allowFrom: String?

    @Option(name: .customLong(TunnelOption.drainTimeout.key), help: ArgumentHelp("How long relaying tunnels may run on after SIGINT/SIGTERM (default 10 s; tunnels not yet open close at once; a second signal ends the drain).", valueName: "duration"), transform: DurationFlag.seconds)
    var drainTimeout: Double = 10

    @Flag(name: .customLong(TunnelOption.multiplex.key), help: "Carry tunnels as streams on a few shared HTTP/2 connections to the gateway (falls back to HTTP/1.1 when the gateway does not offer h2).")
    var multiplex = false

    @Option(name: .customLong(TunnelOption.maxStreamsPerConnection.key), help: ArgumentHelp("With --multiplex: tunnels per gateway connection at most (the gateway's own limit applies too).", valueName: "n"))
    var maxStreamsPerConnection: Int = 100

    // `--early-data/--no-early-data`: the flag stays the config key with `--`
    // (`early-data = false` in a file), and the one users type is the `no-` form.
    @Flag(name: .customLong(TunnelOption.earlyData.key), inversion: .prefixedNo, help: "With --multiplex: a tunnel's first bytes go right behind its CONNECT, before the gateway answers; --no-early-data holds them until the answer, for a gateway that drops DATA sent before it.")
    var earlyData = true

    @Option(name: .customLong(TunnelOption.metricsAddress.key), help: ArgumentHelp("Serve Prometheus metrics at http://ADDR/metrics.", valueName: "addr"))
    var metricsAddress: String?

    @Option(name: .customLong("log-format"), help: ArgumentHelp("text (default) or json.", valueName: "format"))
    var logFormat: LogFormat = .text

    /// Ranges come from `TunnelOption`, the same checks a config file gets;
    /// what needs two options together is checked by `TunnelEntry.validate`.
    func validate() throws {
        let seconds: [(TunnelOption, Double?)] = [
            (.drainTimeout, drainTimeout), (.connectTimeout, connectTimeout), (.authTimeout, authTimeout),
            (.maxTunnelLifetime, maxTunnelLifetime), (.recheckInterval, recheckInterval),
        ]
        for case let (option, value?) in seconds {
            if let error = option.check(seconds: value, from: .commandLine) { throw ValidationError(error.message) }
        }
        if let browserCommand, Credentials.splitCommand(browserCommand).isEmpty {
            throw ValidationError("--browser-cmd is empty; give a program, e.g. --browser-cmd firefox")
        }
    }

    /// The tunnel these flags describe.
    /// `adjust`: what the command sets beyond these flags (`uvtunnel udp`'s protocol and limits), before the check.
    func entry(route: String, adjust: (inout TunnelEntry) -> Void = { _ in }) throws -> TunnelEntry {
        var entry = TunnelEntry()
        entry.listen = listen
        entry.route = route
        entry.pomeriumURL = pomeriumURL
        entry.disableTLSVerification = disableTLSVerification
        entry.alternateCAPath = alternateCAPath
        entry.caCert = caCert
        entry.clientCert = clientCert
        entry.clientKey = clientKey
        entry.browserCommand = browserCommand
        entry.noBrowser = noBrowser
        entry.serviceAccount = serviceAccount
        entry.serviceAccountFile = serviceAccountFile
        entry.egressProxy = egressProxy
        entry.connectTimeout = connectTimeout
        entry.authTimeout = authTimeout
        entry.maxTunnelLifetime = maxTunnelLifetime
        entry.recheckInterval = recheckInterval
        entry.allowFrom = allowFrom
        entry.multiplex = multiplex
        entry.maxStreamsPerConnection = maxStreamsPerConnection
        entry.earlyData = earlyData
        adjust(&entry)
        do {
            try entry.validate()
        } catch {
            throw UsageError(error.message)
        }
        return entry
    }
}

/// A time flag's value: seconds, or a duration with units (`DurationText`).
enum DurationFlag {
    static func seconds(_ text: String) throws -> Double {
        guard let seconds = DurationText.seconds(text) else {
            throw ValidationError("\(PrintableText.quoted(text)) is not \(DurationText.expected)")
        }
        return seconds
    }
}

enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
