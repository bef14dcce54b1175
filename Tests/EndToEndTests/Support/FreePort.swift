import Glibc

/// A loopback port that was free a moment ago (bound to :0, then released).
func freeLoopbackPort() throws -> UInt16 {
    let probe = try SilentListener()
    return probe.port
}
