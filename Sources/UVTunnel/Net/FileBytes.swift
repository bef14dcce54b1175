import Foundation

/// Bounded whole-file reads for small inputs (certificates, keys, token files):
/// a file larger than `limit` is refused rather than read into memory.
enum FileBytes {
    static func read(_ path: String, limit: Int) -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: limit + 1), data.count <= limit else { return nil }
        return [UInt8](data)
    }
}
