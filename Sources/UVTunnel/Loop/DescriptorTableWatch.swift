/// Tells, at most once per interval, when the process's descriptor table is
/// full: a socket this loop made (an accepted client or a gateway dial) took
/// one of the table's last two slots.
///
/// Why both: libuv sheds connections silently at the limit (its spare-
/// descriptor swap), so the last slots going to a new descriptor is the one
/// sign of it; and which call takes them depends on timing. Accepts that run
/// ahead of their tunnels' dials leave the top slots to the dials: a CI run
/// filled the table at `ulimit -n 256` with no line at all, most likely so
/// (the accepts stopped below slot 254, two dials took 254 and 255, and
/// every client after was closed unannounced).
public final class DescriptorTableWatch {
    /// Called with the soft limit; set by whoever logs for the process.
    public var onFull: ((_ limit: Int32) -> Void)?
    /// The soft limit (0: unknown or unlimited), read on first use (settable for tests).
    lazy var limit: Int32 = DescriptorLimit.soft ?? 0
    /// At most one report per this many ms (settable for tests).
    var intervalMilliseconds: UInt64 = 10_000
    private var lastReport: UInt64?

    /// A descriptor the loop just made; `now` is the loop's clock in ms.
    /// Linux hands out the lowest free descriptor, so one this high means
    /// every slot below it is taken.
    public func note(_ descriptor: Int32?, now: UInt64) {
        guard let descriptor, limit > 0, descriptor >= limit - 2, let onFull else { return }
        if let last = lastReport, now &- last < intervalMilliseconds { return }
        lastReport = now
        onFull(limit)
    }
}
