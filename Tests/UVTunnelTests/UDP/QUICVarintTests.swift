import XCTest
@testable import UVTunnel

final class QUICVarintTests: XCTestCase {
    private func encoded(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        QUICVarint.append(value, to: &out)
        return out
    }

    /// RFC 9000 Appendix A.1's examples.
    func testRFCExamples() {
        XCTAssertEqual(QUICVarint.read([0xC2, 0x19, 0x7C, 0x5E, 0xFF, 0x14, 0xE8, 0x8C])?.value, 151_288_809_941_952_652)
        XCTAssertEqual(QUICVarint.read([0x9D, 0x7F, 0x3E, 0x7D])?.value, 494_878_333)
        XCTAssertEqual(QUICVarint.read([0x7B, 0xBD])?.value, 15_293)
        XCTAssertEqual(QUICVarint.read([0x25])?.value, 37)
        // A longer encoding of the same value is still that value.
        XCTAssertEqual(QUICVarint.read([0x40, 0x25])?.value, 37)
        XCTAssertEqual(encoded(151_288_809_941_952_652), [0xC2, 0x19, 0x7C, 0x5E, 0xFF, 0x14, 0xE8, 0x8C])
        XCTAssertEqual(encoded(494_878_333), [0x9D, 0x7F, 0x3E, 0x7D])
        XCTAssertEqual(encoded(15_293), [0x7B, 0xBD])
        XCTAssertEqual(encoded(37), [0x25])
    }

    func testBoundariesRoundTrip() {
        for value: UInt64 in [0, 63, 64, 16_383, 16_384, (1 << 30) - 1, 1 << 30, QUICVarint.max] {
            let bytes = encoded(value)
            XCTAssertEqual(bytes.count, QUICVarint.encodedLength(value), "\(value)")
            XCTAssertEqual(QUICVarint.read(bytes)?.value, value)
            XCTAssertEqual(QUICVarint.read(bytes)?.length, bytes.count)
        }
    }

    func testPartialIsNil() {
        XCTAssertNil(QUICVarint.read([UInt8]()))
        XCTAssertNil(QUICVarint.read([0x40]))
        XCTAssertNil(QUICVarint.read([0xC0, 0, 0, 0, 0, 0, 0]))
    }
}
