import Glibc

/// CPU time and memory of a tunnel client read from /proc, summed over the
/// process and its descendants: proxytunnel forks a child per tunnel (and
/// ignores SIGCHLD, so a finished child's time is lost to the parent's
/// cutime), hence windows are measured while the tunnels are still open.
enum ProcStats {
    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// utime + stime (+ reaped children's) of `root` and every live descendant.
    static func cpuSeconds(tree root: Int32) -> Double {
        let table = processTable()
        return descendants(of: root, in: table).reduce(0) { $0 + (table[$1]?.ticks ?? 0) } / ticksPerSecond
    }

    /// VmRSS and Pss summed over the tree, in KiB, and how many processes it has.
    /// RSS counts shared pages once per process; PSS splits them, which is the
    /// fairer figure for a forking server.
    static func memory(tree root: Int32) -> (rssKiB: Int, pssKiB: Int, processes: Int) {
        let pids = descendants(of: root, in: processTable())
        var rss = 0, pss = 0
        for pid in pids {
            rss += field("VmRSS:", in: readSmallFile("/proc/\(pid)/status")) ?? 0
            pss += field("Pss:", in: readSmallFile("/proc/\(pid)/smaps_rollup")) ?? 0
        }
        return (rss, pss, pids.count)
    }

    private struct Entry { let parent: Int32; let ticks: Double }

    /// Every process's parent and CPU ticks, from /proc/N/stat.
    private static func processTable() -> [Int32: Entry] {
        var table: [Int32: Entry] = [:]
        guard let dir = opendir("/proc") else { return table }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let pid = Int32(name), let stat = readSmallFile("/proc/\(pid)/stat"),
                  let paren = stat.lastIndex(of: ")") else { continue }
            // Fields after "comm)": state ppid ... utime(14) stime(15) cutime(16) cstime(17).
            let fields = stat[stat.index(after: paren)...].split(separator: " ")
            guard fields.count > 14, let parent = Int32(fields[1]) else { continue }
            let ticks = fields[11...14].reduce(0.0) { $0 + (Double($1) ?? 0) }
            table[pid] = Entry(parent: parent, ticks: ticks)
        }
        return table
    }

    private static func descendants(of root: Int32, in table: [Int32: Entry]) -> [Int32] {
        guard table[root] != nil else { return [] }
        var children: [Int32: [Int32]] = [:]
        for (pid, entry) in table { children[entry.parent, default: []].append(pid) }
        var result: [Int32] = []
        var stack = [root]
        while let pid = stack.popLast() {
            result.append(pid)
            stack += children[pid] ?? []
        }
        return result
    }

    /// The number after `name` on its line of a /proc status-like file (kB).
    private static func field(_ name: String, in text: String?) -> Int? {
        guard let text else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            return line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
        }
        return nil
    }

    /// /proc files report size 0, so read until EOF rather than by stat size.
    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }
}
