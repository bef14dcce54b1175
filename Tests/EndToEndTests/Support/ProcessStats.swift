import Foundation
import Glibc

/// What /proc says about a running process: the three numbers a long-lived
/// tunnel must keep flat (open descriptors, resident memory, CPU time).
struct ProcessStats {
    let pid: pid_t

    /// Entries in /proc/PID/fd: every socket, pipe, epoll and event fd it holds.
    var descriptorCount: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// What the descriptors are (for a failure message that shows the leak).
    var descriptorTargets: [String] {
        let directory = "/proc/\(pid)/fd"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0) }.sorted()
    }

    /// VmRSS in KiB, or -1 when the process is gone.
    var residentKiB: Int { statusKiB("VmRSS:") }

    /// Built with AddressSanitizer or ThreadSanitizer? Both reserve terabytes of
    /// shadow address space at start (VmSize), which no plain build comes near.
    /// Their RSS then counts shadow memory and quarantined frees, not ours.
    var isSanitized: Bool { statusKiB("VmSize:") > 1 << 30 }  // KiB: over 1 TiB

    private func statusKiB(_ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }) else { return -1 }
        // "VmRSS:\t   74940 kB", but "VmSize:\t21474972516 kB": a tab, then padding spaces or none.
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? -1
    }

    /// User + system CPU seconds so far (fields 14 and 15 of /proc/PID/stat).
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return -1 }
        // Fields after "(comm)" start at field 3; the name may contain spaces, hence lastIndex.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return -1 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Waits until the descriptor count is `expected` (and stays so for a
    /// moment, since closes finish on the next loop turn); returns the last count.
    func waitForDescriptors(_ expected: Int, timeout: TimeInterval = 15) -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var count = descriptorCount
        while Date() < deadline {
            count = descriptorCount
            if count == expected {
                Thread.sleep(forTimeInterval: 0.2)
                count = descriptorCount
                if count == expected { return count }
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return count
    }

    /// Waits until the descriptor count stops changing and returns it.
    func settledDescriptorCount(timeout: TimeInterval = 5) -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var last = descriptorCount
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.3)
            let now = descriptorCount
            if now == last { return now }
            last = now
        }
        return last
    }
}
