import ArgumentParser
import Foundation
import UVTunnel

/// `uvtunnel udp [--listen ADDR] [options] ROUTE`, as pomerium-cli's `udp`:
/// datagrams to the --listen address are carried to ROUTE's destination over
/// connect-udp (RFC 9298), one gateway connection per client address.
struct UDPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvtunnel udp",
        abstract: "Carry local UDP datagrams through an identity-aware gateway (Pomerium) over TLS and connect-udp.",
        discussion: "ROUTE is host:port, udp+https://host:port, or https://gateway[:port]/host:port."
    )

    @OptionGroup var flags: TunnelFlags

    @Option(name: .customLong("udp-idle-timeout"), help: ArgumentHelp("Close a client's session after this long without a datagram either way (default 2m).", valueName: "duration"), transform: DurationFlag.seconds)
    var udpIdleTimeout: Double = 120

    @Option(name: .customLong("udp-max-sessions"), help: ArgumentHelp("Client addresses served at once; datagrams from more are dropped (default 1000).", valueName: "n"))
    var udpMaxSessions: Int = 1_000

    @Argument(help: "Destination: host:port, udp+https://host:port, or https://gateway/host:port.")
    var route: String

    func validate() throws {
        // As pomerium-cli: a datagram service cannot be carried over a byte stream on stdin/stdout.
        guard flags.listen != "-" else { throw ValidationError("--listen - is not supported by uvtunnel udp (datagrams need a UDP socket); give an address such as 127.0.0.1:5353") }
        guard (0.001...86_400).contains(udpIdleTimeout) else {
            throw ValidationError("--udp-idle-timeout must be between 0.001 and 86400 seconds")
        }
        guard (1...1_000_000).contains(udpMaxSessions) else {
            throw ValidationError("--udp-max-sessions must be between 1 and 1000000, got \(udpMaxSessions)")
        }
        if route.lowercased().hasPrefix("tcp+") { throw ValidationError("a tcp+ route is for `uvtunnel tcp`; use udp+https://host:port") }
    }

    func run() throws {
        let logger = LogBootstrap.start(format: flags.logFormat)
        // Route.parse knows the tcp+ form; a udp+ route is the same shape.
        let text = route.lowercased().hasPrefix("udp+") ? "tcp+" + route.dropFirst(4) : route
        var settings = UDPTunnelServer.Settings()
        settings.idleMilliseconds = UInt64(udpIdleTimeout * 1000)
        settings.maxSessions = udpMaxSessions
        let code = try Supervisor.run(source: .flags(try flags.entry(route: text)), flags: flags, logger: logger, udp: settings)
        if code != 0 { throw ExitCode(code) }
    }
}
