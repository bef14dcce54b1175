import CShims
import Glibc

/// Hands the allocator's free memory back to the kernel, whichever allocator
/// the process runs on: mimalloc's `mi_collect(true)` when mimalloc is linked
/// in (the `uvtunnel` executable links it: it returns a burst's memory where
/// glibc leaves it scattered between live allocations) or preloaded, else
/// glibc's `malloc_trim(0)`. Looked up once, by symbol, so the library itself
/// does not tie its users to an allocator.
public enum HeapTrim {
    private typealias Collect = @convention(c) (Bool) -> Void
    private typealias OptionSet = @convention(c) (Int32, Int) -> Void
    private typealias Version = @convention(c) () -> Int32

    private static let collect: Collect? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mi_collect")
        .map { unsafeBitCast($0, to: Collect.self) }

    /// Which allocator `trim()` talks to (the debug log, tests).
    public static var allocator: String { collect == nil ? "glibc" : "mimalloc" }

    public static func trim() {
        if let collect {
            collect(true)
        } else {
            _ = malloc_trim(0)
        }
    }

    /// `mi_option_decommit_delay` (2.0, Debian's 2.0.9), renamed
    /// `mi_option_purge_delay` in 2.1 and 3.x at the same place in the enum.
    static let decommitDelayOption: Int32 = 15

    /// Makes mimalloc give a page span back to the kernel as soon as it is
    /// freed instead of 25 ms later. mimalloc 2.0 applies a delayed decommit
    /// only when it next allocates a page in the same segment, and
    /// `mi_collect(true)` does not force it: once a burst of handshakes is
    /// over, idle tunnels allocate nothing, so the spans the burst freed stayed
    /// resident (0 to 33 MB after 2,000 at once, the run-to-run spread in
    /// perf/sections/memory.md). The relay itself frees no spans while it
    /// runs (its buffers come from the pool, and OpenSSL's record buffers are
    /// reused from pages that stay in use), so this adds no system calls to
    /// it. False when the process does not run on mimalloc 2 or later (1.x
    /// numbered its options differently). `lookup` finds a symbol (tests pass
    /// one that looks in a library they loaded).
    @discardableResult
    public static func decommitFreedSpansAtOnce(
        lookup: (String) -> UnsafeMutableRawPointer? = { dlsym(UnsafeMutableRawPointer(bitPattern: 0), $0) }
    ) -> Bool {
        guard let version = lookup("mi_version").map({ unsafeBitCast($0, to: Version.self) }),
              version() >= 200,
              let set = lookup("mi_option_set").map({ unsafeBitCast($0, to: OptionSet.self) }) else { return false }
        set(decommitDelayOption, 0)
        return true
    }
}
