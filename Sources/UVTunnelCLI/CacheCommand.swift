import ArgumentParser
import UVTunnel

/// `uvtunnel cache location|clear`, as in pomerium-cli: the token cache is shared.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uvtunnel cache",
        abstract: "Show or clear the token cache shared with pomerium-cli.",
        subcommands: [Location.self, Clear.self]
    )

    struct Location: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the cache directory.")
        func run() throws {
            print(try TokenCache.defaultDirectory())
        }
    }

    struct Clear: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every cached token.")
        func run() throws {
            let directory = try TokenCache.defaultDirectory()
            try TokenCache(directory: directory).clear()
            print("cleared \(directory)")
        }
    }
}
