import ArgumentParser
import Foundation
import UVTunnel

/// `uvtunnel exec [options] ROUTE -- CMD ARGS...`: open the tunnel on a free
/// loopback port, run the client with `{}` replaced by the tunnel's address
/// (and UVTUNNEL_ADDR / UVTUNNEL_PORT set), close the tunnel when the client
/// exits, and exit with the client's status. Replaces the start-tunnel,
/// sleep, run-client, `pkill -f` scripts users keep around.
struct ExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvtunnel exec",
        abstract: "Run a client through a tunnel that lives exactly as long as the client.",
        discussion: """
        Common uses:
          uvtunnel exec rdp.corp.example:3389 -- xfreerdp /v:{}
              {} becomes the tunnel's HOST:PORT
          uvtunnel exec db.corp.example:5432 -- \\
              sh -c 'psql -h 127.0.0.1 -p "$UVTUNNEL_PORT"'
              UVTUNNEL_ADDR and UVTUNNEL_PORT are set for the client
        uvtunnel exits with the client's status; Ctrl-C goes to the client.
        """
    )

    @OptionGroup var flags: TunnelFlags

    @Argument(help: "Destination: host:port, tcp+https://host:port, or https://gateway/host:port.")
    var route: String

    @Argument(parsing: .postTerminator, help: "The client and its arguments, after `--`; `{}` becomes HOST:PORT of the tunnel.")
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("missing the client to run: uvtunnel exec ROUTE -- CMD ARGS...") }
        guard flags.listen != "-" else { throw ValidationError("--listen - cannot be used with exec") }
    }

    func run() throws {
        let logger = LogBootstrap.start(format: flags.logFormat)
        let entry = try flags.entry(route: route)
        let command = self.command
        let code = try Supervisor.run(source: .flags(entry), flags: flags, logger: logger) { supervisor, bound in
            guard let address = bound.first else { throw RuntimeError("the tunnel did not start") }
            let arguments = command.map { $0.replacingOccurrences(of: "{}", with: address.description) }
            let child: ChildSpawner
            do throws(UVError) {
                child = try ChildSpawner.spawn(arguments, loop: supervisor.loop, stdio: .inherit,
                                               extraEnvironment: ["UVTUNNEL_ADDR": address.description,
                                                                  "UVTUNNEL_PORT": String(address.port)]) { status, signal in
                    supervisor.exitCode = signal != 0 ? 128 + signal : Int32(truncatingIfNeeded: status)
                    supervisor.shutdown(drainMilliseconds: 0)
                }
            } catch {
                throw RuntimeError("cannot start \(arguments[0]): \(error.reason)")
            }
            // Ctrl-C reaches the client from the terminal itself; we wait for it to
            // exit. Other signals are passed on to it.
            supervisor.onSignal = { signum in
                if signum != SIGINT { child.kill(signum) }
            }
        }
        if code != 0 { throw ExitCode(code) }
    }
}
