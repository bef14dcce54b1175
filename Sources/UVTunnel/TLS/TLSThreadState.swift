import CShims

/// OpenSSL's per-thread state: the random generators a thread's first TLS
/// handshake creates, and its error queue.
public enum TLSThreadState {
    /// Frees the calling thread's OpenSSL state now. A thread that used
    /// OpenSSL calls this last, before it tells anyone it is done: otherwise
    /// it is freed by a destructor as the thread exits, which can still be
    /// running when the process exits, and LeakSanitizer then reports that
    /// state as leaked (two 40-byte roots, the size of the thread's two
    /// DRBG contexts, and 9 KB under them: seen under `Tests/sanitize` in
    /// about one run in four, from the sign-in thread; none in ten since).
    public static func release() {
        OPENSSL_thread_stop()
    }
}
