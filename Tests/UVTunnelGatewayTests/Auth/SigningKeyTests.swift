import XCTest
@testable import UVTunnel
@testable import UVTunnelGateway

final class SigningKeyTests: XCTestCase {
    func testSignatureIsRawSixtyFourBytesAndVerifies() throws {
        let key = try SigningKey.generate()
        let message = Array("hello".utf8)
        let signature = try key.sign(message)
        XCTAssertEqual(signature.count, 64)
        XCTAssertTrue(key.verify(signature, of: message))
        XCTAssertFalse(key.verify(signature, of: Array("hellp".utf8)))
    }

    func testEmptyMessageCanBeSigned() throws {
        let key = try SigningKey.generate()
        let signature = try key.sign([])
        XCTAssertTrue(key.verify(signature, of: []))
    }

    func testMalformedSignaturesAreInvalidNotCrashes() throws {
        let key = try SigningKey.generate()
        let message = Array("m".utf8)
        let signature = try key.sign(message)
        XCTAssertFalse(key.verify([], of: message))
        XCTAssertFalse(key.verify(Array(signature.prefix(63)), of: message))
        XCTAssertFalse(key.verify(signature + [0], of: message))
        XCTAssertFalse(key.verify([UInt8](repeating: 0, count: 64), of: message))
        XCTAssertFalse(key.verify([UInt8](repeating: 0xFF, count: 64), of: message))
        var flipped = signature
        flipped[40] ^= 0x01
        XCTAssertFalse(key.verify(flipped, of: message))
    }

    func testPEMRoundTripKeepsTheKey() throws {
        let key = try SigningKey.generate()
        let pem = try key.privateKeyPEM
        XCTAssertTrue(pem.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let reloaded = try SigningKey(pem: pem)
        let message = Array("round trip".utf8)
        XCTAssertTrue(reloaded.verify(try key.sign(message), of: message))
        XCTAssertTrue(key.verify(try reloaded.sign(message), of: message))
    }

    func testOtherKeyDoesNotVerify() throws {
        let message = Array("m".utf8)
        let signature = try SigningKey.generate().sign(message)
        XCTAssertFalse(try SigningKey.generate().verify(signature, of: message))
    }

    func testGarbagePEMThrowsNamingTheOperation() {
        XCTAssertThrowsError(try SigningKey(pem: "not a key")) { error in
            XCTAssertEqual((error as? CryptoError)?.operation, "load PEM private key")
        }
        XCTAssertThrowsError(try SigningKey(pem: ""))
        XCTAssertThrowsError(try SigningKey(pem: String(repeating: "A", count: 70_000)))
    }

    func testKeysOfOtherTypesAreRefused() {
        // Made with: openssl genpkey -algorithm ed25519
        let ed25519 = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIKTf5ax4kIINdmAsLdjBopcISPGi9GzWRvNKtm4/lnsx
        -----END PRIVATE KEY-----
        """
        // Made with: openssl ecparam -name secp384r1 -genkey -noout | openssl pkey
        let p384 = """
        -----BEGIN PRIVATE KEY-----
        MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBUhy62uRNo9n6IJfAK
        5u6gZWPucFNyy8kZiga+Y86XvyjCaxxeAN+OfBouN1driz6hZANiAAT6gmnbYFBk
        SivQ0aOmsEymE+XeHtKGfwhiKgVyr3Me+ruN/vNTufgDR2gX/sNMLpAndbAPuSRd
        k2vl0Fh/6CAmknRcpFBbrcq1PgEgK4n/510HfrgS1s87L5wLyXSkv2c=
        -----END PRIVATE KEY-----
        """
        for pem in [ed25519, p384] {
            XCTAssertThrowsError(try SigningKey(pem: pem)) { error in
                XCTAssertEqual((error as? CryptoError)?.detail, "the key is not an EC P-256 key")
            }
        }
    }

    func testEncryptedKeyIsRefusedWithoutPrompting() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return XCTFail("needs the openssl command to encrypt a key (.ci/setup installs it)") }
        let key = try SigningKey.generate()
        let encrypted = try runOpenSSL(["pkey", "-aes256", "-passout", "pass:secret"], input: try key.privateKeyPEM)
        XCTAssertTrue(encrypted.contains("ENCRYPTED PRIVATE KEY"))
        XCTAssertThrowsError(try SigningKey(pem: encrypted))
    }

    private func runOpenSSL(_ arguments: [String], input: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
}
