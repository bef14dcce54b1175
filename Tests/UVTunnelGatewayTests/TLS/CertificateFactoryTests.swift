import CShims
import Foundation
import XCTest
@testable import UVTunnel
@testable import UVTunnelGateway

final class CertificateFactoryTests: XCTestCase {
    func testDefaultCertificateVerifiesAgainstItselfForLocalNames() throws {
        let made = try CertificateFactory.makeSelfSigned()
        let certificate = try XCTUnwrap(TestCertificate(pem: made.certificatePEM))
        XCTAssertNil(certificate.verificationError(for: .host("localhost")))
        XCTAssertNil(certificate.verificationError(for: .ip("127.0.0.1")))
        XCTAssertNil(certificate.verificationError(for: .ip("::1")))
    }

    func testOtherNamesAreRejected() throws {
        let certificate = try XCTUnwrap(TestCertificate(pem: try CertificateFactory.makeSelfSigned().certificatePEM))
        XCTAssertNotNil(certificate.verificationError(for: .host("example.com")))
        XCTAssertNotNil(certificate.verificationError(for: .host("uvtunnel-gateway")), "the CN is not a host name")
        XCTAssertNotNil(certificate.verificationError(for: .ip("127.0.0.2")))
    }

    func testCustomNamesAreHonoured() throws {
        let made = try CertificateFactory.makeSelfSigned(commonName: "gw", dnsNames: ["gw.test", "*.apps.test"], ipAddresses: ["192.0.2.7"])
        let certificate = try XCTUnwrap(TestCertificate(pem: made.certificatePEM))
        XCTAssertNil(certificate.verificationError(for: .host("gw.test")))
        XCTAssertNil(certificate.verificationError(for: .host("x.apps.test")))
        XCTAssertNil(certificate.verificationError(for: .ip("192.0.2.7")))
        XCTAssertNotNil(certificate.verificationError(for: .host("localhost")))
        XCTAssertNotNil(certificate.verificationError(for: .ip("127.0.0.1")))
    }

    func testValidityIsBackdatedAnHourAndEndsAfterValidDays() throws {
        let certificate = try XCTUnwrap(TestCertificate(pem: try CertificateFactory.makeSelfSigned(validDays: 10).certificatePEM))
        let now = Date()
        XCTAssertNil(certificate.verificationError(for: .host("localhost"), at: now.addingTimeInterval(-3500)))
        XCTAssertNotNil(certificate.verificationError(for: .host("localhost"), at: now.addingTimeInterval(-3700)))
        XCTAssertNil(certificate.verificationError(for: .host("localhost"), at: now.addingTimeInterval(10 * 86_400 - 100)))
        XCTAssertNotNil(certificate.verificationError(for: .host("localhost"), at: now.addingTimeInterval(10 * 86_400 + 100)))
    }

    func testStructure() throws {
        let made = try CertificateFactory.makeSelfSigned()
        let certificate = try XCTUnwrap(TestCertificate(pem: made.certificatePEM))
        XCTAssertEqual(certificate.version, 2, "X.509 v3")
        XCTAssertTrue(certificate.isCA)
        XCTAssertEqual(certificate.isCritical(NID_basic_constraints), true)
        XCTAssertEqual(certificate.isCritical(NID_key_usage), true)
        XCTAssertEqual(certificate.isCritical(NID_subject_alt_name), false)
        XCTAssertEqual(certificate.keyUsage, UInt32(KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN))
        XCTAssertTrue(certificate.signatureIsECDSAWithSHA256)
        XCTAssertTrue(certificate.matches(privateKeyPEM: made.privateKeyPEM))
        XCTAssertFalse(certificate.matches(privateKeyPEM: try CertificateFactory.makeSelfSigned().privateKeyPEM))
        // The key is usable as the gateway's P-256 signing key too.
        XCTAssertNoThrow(try SigningKey(pem: made.privateKeyPEM))
    }

    func testSerialsAreRandomAndPositive() throws {
        let first = try XCTUnwrap(TestCertificate(pem: try CertificateFactory.makeSelfSigned().certificatePEM)).serialHex
        let second = try XCTUnwrap(TestCertificate(pem: try CertificateFactory.makeSelfSigned().certificatePEM)).serialHex
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(first.count, 32)
        XCTAssertFalse(first.hasPrefix("-"))
    }

    func testBadInputsThrowInsteadOfInjectingNames() {
        for dns in ["a,IP:10.0.0.1", "", "a..b", "-a.test", "a b", "ex*ample.test", String(repeating: "a", count: 64)] {
            XCTAssertThrowsError(try CertificateFactory.makeSelfSigned(dnsNames: [dns]), dns)
        }
        for ip in ["1.2.3", "::1,DNS:evil", "localhost", ""] {
            XCTAssertThrowsError(try CertificateFactory.makeSelfSigned(ipAddresses: [ip]), ip)
        }
        XCTAssertThrowsError(try CertificateFactory.makeSelfSigned(validDays: 0))
        XCTAssertThrowsError(try CertificateFactory.makeSelfSigned(commonName: ""))
        XCTAssertThrowsError(try CertificateFactory.makeSelfSigned(commonName: String(repeating: "c", count: 65)))
    }

    func testOpenSSLCommandLineAgrees() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { return XCTFail("needs the openssl command (.ci/setup installs it)") }
        let made = try CertificateFactory.makeSelfSigned()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("uvtunnel-cert-\(UUID().uuidString).pem")
        try Data(made.certificatePEM.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["verify", "-CAfile", file.path, "-purpose", "sslserver", "-verify_hostname", "localhost", file.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
    }
}
