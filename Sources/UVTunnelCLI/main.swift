import ArgumentParser
import Foundation
import UVTunnel

// `uvtunnel tcp ROUTE ...` is how pomerium-cli users type it: accept it.
var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "tcp" { arguments.removeFirst() }
if arguments.first == "exec" {
    do {
        var command = try ExecCommand.parseAsRoot(Array(arguments.dropFirst()))
        try command.run()
        Foundation.exit(0)
    } catch let exit as ExitCode {
        Foundation.exit(exit.rawValue)
    } catch {
        if ExecCommand.exitCode(for: error) == .success { ExecCommand.exit(withError: error) }
        ConsoleLine.write("uvtunnel exec: \(ExecCommand.message(for: error))", event: "error", level: "error")
        Foundation.exit(error is RuntimeError ? 1 : 2)
    }
}
if arguments.first == "udp" {
    do {
        var command = try UDPCommand.parseAsRoot(Array(arguments.dropFirst()))
        try command.run()
        Foundation.exit(0)
    } catch let exit as ExitCode {
        Foundation.exit(exit.rawValue)
    } catch {
        if UDPCommand.exitCode(for: error) == .success { UDPCommand.exit(withError: error) }
        ConsoleLine.write("uvtunnel udp: \(UDPCommand.message(for: error))", event: "error", level: "error")
        Foundation.exit(error is RuntimeError ? 1 : 2)
    }
}
if arguments.first == "cache" {
    CacheCommand.main(Array(arguments.dropFirst()))  // exits by itself on errors
    Foundation.exit(0)
}

// Usage errors exit 2 (SPEC), not ArgumentParser's default 64.
do {
    var command = try TunnelCommand.parseAsRoot(arguments)
    try command.run()
} catch let exit as ExitCode {
    Foundation.exit(exit.rawValue)
} catch {
    let code = TunnelCommand.exitCode(for: error)
    if code == .success {
        TunnelCommand.exit(withError: error)  // --help, --version
    }
    let message = TunnelCommand.message(for: error)
    ConsoleLine.write("uvtunnel: \(message)", event: "error", level: "error")
    if error is UsageError || !(error is RuntimeError) {
        if ConsoleLine.format == .text { FileHandle.standardError.write(Data("Run 'uvtunnel --help' for usage.\n".utf8)) }
        Foundation.exit(2)
    }
    Foundation.exit(1)
}
