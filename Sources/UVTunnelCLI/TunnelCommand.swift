import ArgumentParser
import Foundation
import UVTunnel

/// `uvtunnel [--listen ADDR] [options] ROUTE`, or `uvtunnel --config FILE`.
struct TunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvtunnel",
        abstract: "Carry local TCP connections through an identity-aware gateway (Pomerium) over TLS and HTTP CONNECT.",
        discussion: """
        ROUTE is host:port, tcp+https://host:port, or https://gateway[:port]/host:port.
        Every connection to the --listen address is tunnelled to ROUTE's destination.
        Also: `uvtunnel tcp ...` (as pomerium-cli), `uvtunnel exec [options] ROUTE -- CMD ARGS...`,
        `uvtunnel cache location|clear`.
        """,
        version: UVTunnelVersion.string
    )

    @OptionGroup var flags: TunnelFlags

    @Option(help: ArgumentHelp("TOML file of [[tunnel]] entries served by this one process; SIGHUP re-reads it.", valueName: "file"))
    var config: String?

    @Argument(help: "Destination: host:port, tcp+https://host:port, or https://gateway/host:port.")
    var route: String?

    func validate() throws {
        switch (route, config) {
        case (nil, nil): throw ValidationError("missing ROUTE (e.g. db.corp.example:5432), or --config FILE")
        case (.some, .some): throw ValidationError("give ROUTE or --config FILE, not both")
        default: break
        }
    }

    func run() throws {
        let logger = LogBootstrap.start(format: flags.logFormat)
        let source: EntrySource
        if let config {
            source = .file(config)
        } else {
            source = .flags(try flags.entry(route: route ?? ""))
        }
        let code = try Supervisor.run(source: source, flags: flags, logger: logger)
        if code != 0 { throw ExitCode(code) }
    }
}
