/// Decides when to hand the heap's free pages back to the kernel: once, on
/// the first quiet period after activity. Thousands of TLS handshakes at once
/// leave most of their memory freed but scattered between the allocations of
/// the tunnels that stay, where glibc never returns it by itself (it trims
/// only the top of the heap); `malloc_trim(0)` walks the heap and returns every
/// free page, which costs milliseconds on a large heap, so it runs when a
/// burst is over, never during one and never per byte.
///
/// Activity is connection churn (tunnels starting to open, opened or closed:
/// the handshakes and teardowns that allocate and free), any tunnel still
/// opening (thousands of handshakes on a loaded machine can go a second
/// without one finishing), or buffers the pool just let go of.
public struct HeapTrimTrigger {
    private var lastChurn: Int
    private var pending = false

    public init(churn: Int = 0) {
        lastChurn = churn
    }

    /// One period has passed; `churn` is the loop's churn count so far,
    /// `opening` how many tunnels are opening now, `released` how many buffers
    /// the pool freed at this tick. True: trim now.
    public mutating func tick(churn: Int, opening: Int = 0, released: Int) -> Bool {
        let busy = churn != lastChurn || opening > 0
        lastChurn = churn
        if busy {
            // Still opening or closing: wait for a whole period without any.
            pending = true
            return false
        }
        if released > 0 { pending = true }
        guard pending else { return false }
        pending = false
        return true
    }
}
