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

    @Option(name: .customLong(TunnelOption.udpIdleTimeout.key), help: ArgumentHelp("Close a client's session after this long without a datagram either way (default 2m).", valueName: "duration"), transform: DurationFlag.seconds)
    var udpIdleTimeout: Double = 120

    @Option(name: .customLong(TunnelOption.udpMaxSessions.key), help: ArgumentHelp("Client addresses served at once; datagrams from more are dropped (default 1000).", valueName: "n"))
    var udpMaxSessions: Int = 1_000

    @Argument(help: "Destination: host:port, udp+https://host:port, or https://gateway/host:port.")
    var route: String

    func validate() throws {
        // As pomerium-cli: a datagram service cannot be carried over a byte stream on stdin/stdout.
        guard flags.listen != "-" else { throw ValidationError("--listen - is not supported by uvtunnel udp (datagrams need a UDP socket); give an address such as 127.0.0.1:5353") }
    }

    func run() throws {
        let logger = LogBootstrap.start(format: flags.logFormat)
        let entry = try flags.entry(route: route) { entry in
            entry.protocol = .udp
            entry.udpIdleTimeout = udpIdleTimeout
            entry.udpMaxSessions = udpMaxSessions
        }
        let code = try Supervisor.run(source: .flags(entry), flags: flags, logger: logger)
        if code != 0 { throw ExitCode(code) }
    }
}
