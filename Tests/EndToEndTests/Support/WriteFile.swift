import Foundation

/// Writes `contents` to a new file at `path` with `mode` (0600 by default:
/// uvtunnel refuses token and cache files others can read), or throws: a
/// file a test meant to plant and did not would fail it later, and less clearly.
func writeFile(_ path: String, _ contents: String, mode: Int = 0o600) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: mode]) else {
        throw TestError("could not write \(path)")
    }
}
