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
}
