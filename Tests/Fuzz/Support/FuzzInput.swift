/// The layout every fuzz target reads its input with: a two-byte prefix
/// chooses where to split the payload (little-endian, modulo its length + 1,
/// so every split point of a payload up to 64 KiB is reachable), and the rest
/// is the payload itself. Targets that need one more choice take a third byte
/// with `takeByte()` before reading `payload`.
public struct FuzzInput {
    public private(set) var bytes: ArraySlice<UInt8>
    private let splitSeed: Int

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        let all = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
        let seed = all.prefix(2)
        splitSeed = seed.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        bytes = all.dropFirst(2)
    }

    /// One more option byte taken from the front of the payload (0 when none is left).
    public mutating func takeByte() -> UInt8 {
        guard let first = bytes.first else { return 0 }
        bytes = bytes.dropFirst()
        return first
    }

    /// Where to split `payload`: 0...payload.count.
    public func splitOffset(_ payload: ArraySlice<UInt8>? = nil) -> Int {
        splitSeed % ((payload ?? bytes).count + 1)
    }

    /// The payload cut in two at `splitOffset`.
    public func split(_ payload: ArraySlice<UInt8>? = nil) -> (ArraySlice<UInt8>, ArraySlice<UInt8>) {
        let whole = payload ?? bytes
        let cut = whole.startIndex + splitOffset(whole)
        return (whole[..<cut], whole[cut...])
    }
}
