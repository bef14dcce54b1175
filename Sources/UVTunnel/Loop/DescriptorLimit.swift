import Glibc

/// Every tunnel takes two descriptors, and many systems still start
/// processes with a soft limit of 1,024 under a much higher hard limit: the
/// soft limit is raised to the hard one at start (as Go's runtime does for
/// pomerium-cli), so thousands of tunnels do not need a `ulimit -n` first.
public enum DescriptorLimit {
    /// The soft limit now in force, nil when unknown or unlimited.
    public static var soft: Int32? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(Int32.max) else { return nil }
        return Int32(limit.rlim_cur)
    }

    /// Returns the soft limit now in force.
    @discardableResult
    public static func raiseSoftToHard() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
