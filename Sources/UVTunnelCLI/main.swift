import ArgumentParser
import Foundation
import UVTunnel

/// Parses and runs one of uvtunnel's commands, then exits. Usage errors exit
/// 2 (SPEC), not ArgumentParser's default 64, with one line naming what was
/// wrong and a pointer to the command's own --help; failures while running
/// exit 1.
func runCommand<Command: ParsableCommand>(_ type: Command.Type, _ arguments: [String], name: String) -> Never {
    do {
        var command = try type.parseAsRoot(arguments)
        try command.run()
        Foundation.exit(0)
    } catch let exit as ExitCode {
        Foundation.exit(exit.rawValue)
    } catch {
        if type.exitCode(for: error) == .success { type.exit(withError: error) }  // --help, --version
        ConsoleLine.write("\(name): \(type.message(for: error))", event: "error", level: "error")
        guard error is UsageError || !(error is RuntimeError) else { Foundation.exit(1) }
        if ConsoleLine.format == .text { FileHandle.standardError.write(Data("Run '\(name) --help' for usage.\n".utf8)) }
        Foundation.exit(2)
    }
}

// `uvtunnel tcp ROUTE ...` is how pomerium-cli users type it: accept it.
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "tcp" { arguments.removeFirst() }
switch arguments.first {
case "exec": runCommand(ExecCommand.self, Array(arguments.dropFirst()), name: "uvtunnel exec")
case "udp": runCommand(UDPCommand.self, Array(arguments.dropFirst()), name: "uvtunnel udp")
case "cache":
    CacheCommand.main(Array(arguments.dropFirst()))  // exits by itself on errors
    Foundation.exit(0)
default: runCommand(TunnelCommand.self, arguments, name: "uvtunnel")
}
