import Foundation
import Logging
import UVTunnel

/// Where the tunnels come from: the command line, or a config file that
/// SIGHUP re-reads.
enum EntrySource {
    case flags(TunnelEntry)
    case file(String)

    /// Reads and checks every entry (files, certificates, addresses) before anything listens.
    func prepare(logger: Logger) throws -> ([PreparedEntry], TunnelConfigFile?) {
        let (entries, config) = try load()
        let prepared = try entries.map { entry throws -> PreparedEntry in
            do throws(PreparedEntry.Failure) { return try PreparedEntry(entry, logger: logger) } catch {
                let message = entry.line.map { "config line \($0): \(error.description)" } ?? error.description
                if error.usage { throw UsageError(message) }
                throw RuntimeError(message)
            }
        }
        return (prepared, config)
    }

    private func load() throws -> ([TunnelEntry], TunnelConfigFile?) {
        switch self {
        case .flags(let entry):
            return ([entry], nil)
        case .file(let path):
            let config = try Self.readConfig(path)
            return (config.tunnels, config)
        }
    }

    static func readConfig(_ path: String) throws -> TunnelConfigFile {
        guard let data = FileManager.default.contents(atPath: path), data.count <= TunnelConfigFile.maxBytes else {
            throw UsageError("--config \(path): cannot read it (missing, unreadable or over 1 MiB)")
        }
        do {
            return try TunnelConfigFile.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw UsageError("--config \(path): \(error)")
        }
    }
}
