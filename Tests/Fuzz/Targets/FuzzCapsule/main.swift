import FuzzSupport
import UVTunnel

/// CapsuleDecoder: the capsule stream a gateway sends on a connect-udp
/// session (or whatever answers in its place). Input: [split:2][capsule
/// bytes], fed whole, split at the fuzz-chosen offset and byte by byte; every
/// way must give the same events and the same end, and no datagram may be
/// larger than a capsule may be.
FuzzMain.run(fuzzCapsule)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzCapsule(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let whole = run([input.bytes])
    let (first, second) = input.split()
    Fuzz.equal(run([first, second]), whole, "whole vs split at \(first.count)")
    Fuzz.equal(run(input.bytes.indices.map { input.bytes[$0...$0] }), whole, "whole vs byte by byte")
    // Every datagram read re-encodes to a capsule that reads back as itself.
    for case .datagram(let payload) in whole.events {
        Fuzz.check(payload.count <= CapsuleEncoder.maxPayload, "datagram of \(payload.count) bytes")
        Fuzz.equal(run([CapsuleEncoder.datagram(payload)[...]]), Outcome(events: [.datagram(payload)], error: nil),
                   "re-encoded datagram")
    }
    if let error = whole.error { Fuzz.checkLogLine(error.message, "capsule error") }
    return 0
}

private struct Outcome: Equatable {
    var events: [CapsuleDecoder.Event]
    var error: CapsuleError?
}

private func run(_ chunks: [ArraySlice<UInt8>]) -> Outcome {
    var decoder = CapsuleDecoder()
    var outcome = Outcome(events: [], error: nil)
    do throws(CapsuleError) {
        for chunk in chunks { try decoder.feed(chunk) { outcome.events.append($0) } }
    } catch {
        outcome.error = error
        var after = false
        do throws(CapsuleError) { try decoder.feed(CapsuleEncoder.datagram([1])) { _ in after = true } } catch {
            Fuzz.equal(error, outcome.error!, "the same error again")
        }
        Fuzz.check(!after, "an event after a failure")
    }
    return outcome
}
