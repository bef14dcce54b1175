/// Small deterministic generator so fuzz-style tests repeat exactly.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fewer than `parts` parts, each one of `pieces` or, one time in four,
    /// a random byte: input near enough to a protocol's text to reach deep
    /// into its parser, and far enough to break it everywhere.
    mutating func mix(of pieces: [String], parts: UInt64) -> [UInt8] {
        var input: [UInt8] = []
        for _ in 0..<next() % parts {
            if next() % 4 == 0 {
                input.append(UInt8(truncatingIfNeeded: next()))
            } else {
                input += Array(pieces[Int(next() % UInt64(pieces.count))].utf8)
            }
        }
        return input
    }

    /// `input` cut at random into pieces of 1 to `longest` bytes, as reads deliver it.
    mutating func chunks(of input: [UInt8], longest: UInt64) -> [ArraySlice<UInt8>] {
        var chunks: [ArraySlice<UInt8>] = []
        var offset = 0
        while offset < input.count {
            let end = min(offset + Int(next() % longest) + 1, input.count)
            chunks.append(input[offset..<end])
            offset = end
        }
        return chunks
    }
}
