import ArgumentParser
import CShims
import Foundation
import UVTunnel

/// `uvtunnel [--listen ADDR] [options] ROUTE`, or `uvtunnel --config FILE`.
struct TunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvtunnel",
        abstract: "Carry local TCP connections through an identity-aware gateway (Pomerium) over TLS and HTTP CONNECT.",
        discussion: """
        Common uses:
          uvtunnel --listen 127.0.0.1:3389 rdp.corp.example:3389
              a local port for an RDP client (then connect it to 127.0.0.1:3389)
          ssh -o ProxyCommand='uvtunnel --listen - %h:%p' host.corp.example
              ssh through the gateway, one tunnel over stdin/stdout
          uvtunnel exec rdp.corp.example:3389 -- xfreerdp /v:{}
              a client through a tunnel that lives as long as it ({} is HOST:PORT)
        The first connection signs in (a browser opens once); the token is
        cached where pomerium-cli caches it.

        ROUTE: host:port, tcp+https://host:port, or https://gateway[:port]/host:port.
        Also: `uvtunnel tcp` (pomerium-cli's spelling), `uvtunnel exec`,
        `uvtunnel udp` (UDP routes), `uvtunnel cache location|clear`,
        --config FILE for many routes.
        Times take units: 500ms, 10s, 3m, 1h30m.
        """,
        version: UVTunnelVersion.string
    )

    @OptionGroup var flags: TunnelFlags

    @Option(help: ArgumentHelp("TOML file of [[tunnel]] entries served by this one process; SIGHUP re-reads it.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Run N single-threaded workers sharing each listening port (SO_REUSEPORT), for hosts with many cores.", valueName: "n"))
    var workers: Int = 1

    @Argument(help: "Destination: host:port, tcp+https://host:port, or https://gateway/host:port.")
    var route: String?

    func validate() throws {
        switch (route, config) {
        case (nil, nil): throw ValidationError("missing ROUTE (e.g. db.corp.example:5432), or --config FILE")
        case (.some, .some): throw ValidationError("give ROUTE or --config FILE, not both")
        default: break
        }
        guard (1...64).contains(workers) else {
            throw ValidationError("--workers must be between 1 and 64, got \(workers)")
        }
        if workers > 1 && flags.listen == "-" {
            throw ValidationError("--workers cannot share --listen - (stdin/stdout); give a TCP address or leave --workers out")
        }
    }

    func run() throws {
        var logger = LogBootstrap.start(format: flags.logFormat)
        let worker = ProcessInfo.processInfo.environment[WorkerHandoff.indexVariable]
        if let worker {
            // One of --workers: our lines say which worker wrote them, and we stop if the parent dies.
            logger[metadataKey: "worker"] = "\(worker)"
            _ = cshim_set_parent_death_signal(SIGTERM)
            if getppid() == 1 { throw RuntimeError("worker \(worker): the --workers parent is gone") }
        }
        let source: EntrySource
        if let config {
            source = .file(config)
        } else {
            source = .flags(try flags.entry(route: route ?? ""))
        }
        let code = workers > 1 && worker == nil
            ? try WorkerParent.run(count: workers, source: source, logger: logger)
            : try Supervisor.run(source: source, flags: flags, logger: logger)
        if code != 0 { throw ExitCode(code) }
    }
}
