import ArgumentParser
import UVTunnel

/// `uvtunnel-gateway`: the server side of the SPEC, for the README demo, the
/// tests and the benchmarks. Never an open proxy: loopback destinations only
/// unless `--allow` says otherwise.
struct GatewayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvtunnel-gateway",
        abstract: "A local gateway that speaks uvtunnel's protocol (HTTP CONNECT over TLS with a Pomerium token).",
        version: UVTunnelVersion.string,
        subcommands: [Serve.self, IssueToken.self],
        defaultSubcommand: Serve.self
    )
}

/// The gateway's keys live in one folder so `issue-token` can sign tokens the
/// running gateway accepts.
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Folder for the signing key and the generated TLS certificate (created 0700).", valueName: "dir"))
    var stateDirectory: String
}
