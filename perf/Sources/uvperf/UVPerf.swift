import ArgumentParser
import Foundation
import UVTunnel

/// Load generator for perf/run. `serve` runs the targets; every other
/// subcommand is one scenario that connects to a port (a tunnel's local port,
/// or the target itself for "direct"), measures, and prints one JSON line.
@main
struct UVPerf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvperf",
        abstract: "Targets and scenarios for benchmarking TCP tunnels on 127.0.0.1.",
        subcommands: [Serve.self, Bulk.self, RoundTrip.self, RDPLike.self, Setup.self, Hold.self]
    )
}

/// Options every scenario takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Port on 127.0.0.1 to connect to: the tunnel's local port, or the target's for a direct run.")
    var port: UInt16

    @Option(help: "Seconds measured, after the warm-up.")
    var seconds: Double = 5

    @Option(help: "Seconds of traffic before measuring starts (not counted).")
    var warmup: Double = 0.5

    @Option(help: "PID of the tunnel client: its CPU and memory (children included) are read from /proc.")
    var pid: Int32?

    @Option(help: "Connections opened at a time when a scenario sets up many.")
    var openConcurrency: Int = 64

    var address: SocketAddress {
        get throws { try SocketAddress(ip: "127.0.0.1", port: port) }
    }

    func validate() throws {
        guard seconds > 0, seconds <= 600, warmup >= 0, warmup <= 60 else {
            throw ValidationError("--seconds must be in (0, 600] and --warmup in [0, 60]")
        }
        guard openConcurrency > 0 else { throw ValidationError("--open-concurrency must be positive") }
    }
}

/// Prints one result as a single JSON line on stdout (what perf/run collects).
func emit(_ result: [String: Any]) {
    let cleaned = result.mapValues { value -> Any in
        if let number = value as? Double { return number.isFinite ? (number * 1000).rounded() / 1000 : NSNull() }
        return value
    }
    let data = try! JSONSerialization.data(withJSONObject: cleaned, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// Milliseconds for a libuv timer from seconds.
func milliseconds(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds * 1000).rounded()) }
