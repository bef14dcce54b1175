/// AddressSanitizer reads this before main. Under `swift test --sanitize=address`
/// its LeakSanitizer checks the test process at exit, and there it reports
/// XCTest's own bookkeeping in every run, even of one empty test: the test
/// case instances are reachable only through a Swift weak-reference side
/// table, whose address the runtime keeps encoded in the object header where
/// LeakSanitizer cannot follow it. So leak checking is off for this process
/// only (by default: ASAN_OPTIONS still wins); the uvtunnel and
/// uvtunnel-gateway processes the end-to-end tests start keep it, and a leak
/// there fails their exit-status checks. No effect without the sanitizer.
@_cdecl("__asan_default_options")
public func asanDefaultOptions() -> UnsafePointer<CChar> {
    // A literal's NUL-terminated static storage; one expression, so no stack
    // variable (instrumented, and ASan's shadow memory is not mapped yet).
    UnsafeRawPointer(("detect_leaks=0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}
