import XCTest
@testable import UVTunnel

final class CapsuleDecoderTests: XCTestCase {
    /// Feeds `bytes` whole, then byte by byte, then in 7-byte pieces, and
    /// checks that every way gives the same events and the same end.
    private func decode(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line)
        -> (events: [CapsuleDecoder.Event], error: CapsuleError?) {
        func run(_ chunks: [ArraySlice<UInt8>]) -> ([CapsuleDecoder.Event], CapsuleError?) {
            var decoder = CapsuleDecoder()
            var events: [CapsuleDecoder.Event] = []
            do throws(CapsuleError) {
                for chunk in chunks { try decoder.feed(chunk) { events.append($0) } }
                return (events, nil)
            } catch {
                // A failed decoder stays failed.
                XCTAssertThrowsError(try decoder.feed([0x00, 0x01, 0x00]) { _ in XCTFail("event after failure") })
                return (events, error)
            }
        }
        let whole = run([bytes[...]])
        let single = run(bytes.indices.map { bytes[$0...$0] })
        let sevens = run(stride(from: 0, to: bytes.count, by: 7).map { bytes[$0..<min($0 + 7, bytes.count)] })
        XCTAssertEqual(single.0, whole.0, "byte by byte", file: file, line: line)
        XCTAssertEqual(single.1, whole.1, "byte by byte", file: file, line: line)
        XCTAssertEqual(sevens.0, whole.0, "7-byte pieces", file: file, line: line)
        XCTAssertEqual(sevens.1, whole.1, "7-byte pieces", file: file, line: line)
        return whole
    }

    func testDatagramsOfEverySize() {
        for size in [0, 1, 62, 63, 64, 1_200, 9_000, 16_383, 16_384, 65_507, CapsuleEncoder.maxPayload] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let result = decode(CapsuleEncoder.datagram(payload))
            XCTAssertEqual(result.events, [.datagram(payload)], "\(size) bytes")
            XCTAssertNil(result.error)
        }
    }

    /// The data path's memcpy form (fed from raw buffers, as a socket's reads
    /// are) against what was encoded: a stream of datagrams, unknown types
    /// and other contexts, cut at random places.
    func testRawPiecesCutAnywhereGiveTheSameDatagrams() {
        var random = SystemRandomNumberGenerator()
        for round in 0..<50 {
            var stream: [UInt8] = []
            var expected: [CapsuleDecoder.Event] = []
            for _ in 0..<Int.random(in: 1...12, using: &random) {
                let size = [0, 1, 63, 64, 1_200, 16_383, 16_384, 40_000][Int.random(in: 0..<8, using: &random)]
                let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
                switch Int.random(in: 0..<4, using: &random) {
                case 0:
                    stream += [0x2A, 0x02, 0x01, 0x02]  // unknown type, skipped
                    expected.append(.skipped(type: 0x2A))
                case 1:
                    stream += [0x00, 0x02, 0x05, 0x09]  // context 5, dropped
                    expected.append(.droppedContext(5))
                default:
                    let encoded = payload.withUnsafeBytes { CapsuleEncoder.datagram($0) }  // the memcpy form
                    XCTAssertEqual(encoded, CapsuleEncoder.datagram(payload[...]), "as the byte-wise form")
                    stream += encoded
                    expected.append(.datagram(payload))
                }
            }
            var decoder = CapsuleDecoder()
            var events: [CapsuleDecoder.Event] = []
            var at = 0
            while at < stream.count {
                let end = min(stream.count, at + Int.random(in: 1...20_000, using: &random))
                let piece = Array(stream[at..<end])
                XCTAssertNoThrow(try piece.withUnsafeBytes { raw in
                    Result { () throws(CapsuleError) in try decoder.feed(raw) { events.append($0) } }
                }.get(), "round \(round)")
                at = end
            }
            XCTAssertEqual(events, expected, "round \(round)")
            XCTAssertTrue(decoder.isAtBoundary)
        }
    }

    func testSeveralInOrder() {
        let bytes = CapsuleEncoder.datagram([1]) + CapsuleEncoder.datagram([2, 2]) + CapsuleEncoder.datagram([])
        XCTAssertEqual(decode(bytes).events, [.datagram([1]), .datagram([2, 2]), .datagram([])])
    }

    func testUnknownTypeSkipped() {
        // Type 0x2A (2 bytes, 0x40 0x2A), length 3, then a datagram.
        let bytes: [UInt8] = [0x40, 0x2A, 0x03, 9, 9, 9] + [0x17, 0x00] + CapsuleEncoder.datagram([5])
        let result = decode(bytes)
        XCTAssertEqual(result.events, [.skipped(type: 0x2A), .skipped(type: 0x17), .datagram([5])])
        XCTAssertNil(result.error)
    }

    func testOtherContextDropped() {
        let bytes: [UInt8] = [0x00, 0x03, 0x02, 7, 7] + CapsuleEncoder.datagram([8])
        XCTAssertEqual(decode(bytes).events, [.droppedContext(2), .datagram([8])])
    }

    func testLengthLimit() {
        // Exactly the limit is read (as a skipped capsule, to keep the test small)...
        var atLimit: [UInt8] = [0x21]
        QUICVarint.append(UInt64(CapsuleDecoder.maxLength), to: &atLimit)
        var decoder = CapsuleDecoder()
        var events: [CapsuleDecoder.Event] = []
        XCTAssertNoThrow(try decoder.feed(atLimit + [UInt8](repeating: 0, count: CapsuleDecoder.maxLength)) { events.append($0) })
        XCTAssertEqual(events, [.skipped(type: 0x21)])
        // ...one more is an error, before any of the value arrives.
        var over: [UInt8] = [0x00]
        QUICVarint.append(UInt64(CapsuleDecoder.maxLength + 1), to: &over)
        let result = decode(over)
        XCTAssertEqual(result.error, .tooLong(UInt64(CapsuleDecoder.maxLength + 1)))
        XCTAssertEqual(decode([0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).error, .tooLong(QUICVarint.max))
    }

    func testDatagramWithoutContext() {
        XCTAssertEqual(decode([0x00, 0x00]).error, .missingContext)
        // A 4-byte context id in a 2-byte value.
        XCTAssertEqual(decode([0x00, 0x02, 0x80, 0x00] + CapsuleEncoder.datagram([1])).error, .missingContext)
    }

    func testBoundary() {
        var decoder = CapsuleDecoder()
        XCTAssertTrue(decoder.isAtBoundary)
        try? decoder.feed([0x00, 0x02]) { _ in }
        XCTAssertFalse(decoder.isAtBoundary)
        try? decoder.feed([0x00, 0x01]) { _ in }
        XCTAssertTrue(decoder.isAtBoundary)
    }
}
