import CLibFuzzer
#if canImport(Glibc)
import Glibc
#endif

/// The body of every fuzz target's main.swift: runs libFuzzer with the
/// command line as given (corpus directories, -max_total_time=…) and exits
/// with its status, non-zero when an input crashed or broke an invariant.
public enum FuzzMain {
    public typealias OneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    public static func run(_ oneInput: OneInput) -> Never {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, oneInput))
    }
}
