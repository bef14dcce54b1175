import Foundation
import XCTest
@testable import UVTunnel
@testable import UVTunnelGateway

final class JWTSigningTests: XCTestCase {
    private let now = Date(timeIntervalSince1970: 1_700_000_000)

    // MARK: - issue / verify

    func testIssueThenVerifyReturnsTheClaims() throws {
        let key = try SigningKey.generate()
        let claims = TokenClaims(iss: "gw", sub: "alice", aud: "tcp.example", exp: 1_700_003_600, iat: 1_700_000_000)
        let token = try JWT.issue(claims, key: key)
        XCTAssertEqual(try JWT.verify(token, key: key, now: now), claims)
    }

    func testIssuedHeaderIsExactlyES256JWT() throws {
        let token = try JWT.issue(TokenClaims(sub: "a"), key: try SigningKey.generate())
        let header = try XCTUnwrap(Base64URL.decode(String(token.split(separator: ".")[0])))
        XCTAssertEqual(String(decoding: header, as: UTF8.self), #"{"alg":"ES256","typ":"JWT"}"#)
    }

    func testTokenWithoutExpiryNeverExpires() throws {
        let key = try SigningKey.generate()
        let token = try JWT.issue(TokenClaims(sub: "svc"), key: key)
        XCTAssertEqual(try JWT.verify(token, key: key, now: Date.distantFuture).sub, "svc")
    }

    func testTamperedPayloadIsRejected() throws {
        let key = try SigningKey.generate()
        let token = try JWT.issue(TokenClaims(sub: "alice", exp: 1_700_003_600), key: key)
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(#"{"exp":1700003600,"sub":"mallory"}"#)
        assertRejected(parts.joined(separator: "."), key: key, as: .badSignature)
    }

    func testTamperedSignatureIsRejected() throws {
        let key = try SigningKey.generate()
        let token = try JWT.issue(TokenClaims(sub: "alice"), key: key)
        var parts = token.split(separator: ".").map(String.init)
        var signature = try XCTUnwrap(Base64URL.decode(parts[2]))
        signature[0] ^= 0x80
        parts[2] = Base64URL.encode(signature)
        assertRejected(parts.joined(separator: "."), key: key, as: .badSignature)
        // A signature of the wrong length is also just a bad signature.
        parts[2] = Base64URL.encode(Array(signature.prefix(32)))
        assertRejected(parts.joined(separator: "."), key: key, as: .badSignature)
    }

    func testExpiredTokenIsRejected() throws {
        let key = try SigningKey.generate()
        let token = try JWT.issue(TokenClaims(sub: "alice", exp: 1_700_000_000), key: key)
        assertRejected(token, key: key, now: now, as: .expired)  // exp == now counts as expired
        XCTAssertNoThrow(try JWT.verify(token, key: key, now: now.addingTimeInterval(-1)))
    }

    func testTokenFromAnotherKeyIsRejected() throws {
        let token = try JWT.issue(TokenClaims(sub: "alice"), key: try SigningKey.generate())
        assertRejected(token, key: try SigningKey.generate(), as: .badSignature)
    }

    func testAlgNoneAndOtherAlgorithmsAreRejected() throws {
        let key = try SigningKey.generate()
        let valid = try JWT.issue(TokenClaims(sub: "alice"), key: key)
        let parts = valid.split(separator: ".").map(String.init)
        for header in [#"{"alg":"none"}"#, #"{"alg":"HS256","typ":"JWT"}"#, #"{"alg":"es256"}"#, #"{"alg":"ES384"}"#] {
            // Even with a signature that is valid for the original header's key.
            let forged = Base64URL.encode(header) + "." + parts[1] + "." + parts[2]
            assertRejected(forged, key: key, as: .unsupportedAlgorithm)
        }
        // The classic "alg":"none" form has an empty signature part.
        assertRejected(Base64URL.encode(#"{"alg":"none"}"#) + "." + parts[1] + ".", key: key, as: .malformed)
        // Unknown critical extensions must be refused (RFC 7515 §4.1.11).
        let critical = Base64URL.encode(#"{"alg":"ES256","crit":["b64"],"b64":false}"#) + "." + parts[1]
        let criticalToken = critical + "." + Base64URL.encode(try key.sign(Array(critical.utf8)))
        assertRejected(criticalToken, key: key, as: .unsupportedAlgorithm)
    }

    /// Found by Tests/Fuzz (FuzzJWT): `alg` was shown with debugDescription,
    /// which leaves NEL, U+2028 and bidi overrides as they are, so a client
    /// could break or disguise the gateway's "answered 401" log line.
    func testAlgorithmInTheErrorIsEscapedToOnePrintableLine() throws {
        let key = try SigningKey.generate()
        // As written in the header's JSON: NEL, line separator, right-to-left
        // override, a terminal colour escape, CRLF, and plain non-ASCII.
        for alg in [#"\u0085x"#, #"a\u2028b"#, #"\u202Ecba"#, #"\u001b[31mred"#, #"\r\nforged: line"#, "é"] {
            let header = Base64URL.encode(#"{"alg":""# + alg + #""}"#)
            do {
                _ = try JWT.verify(header + ".e30.AAAA", key: key, now: now)
                XCTFail("accepted alg \(alg)")
            } catch {
                XCTAssertEqual(error.kind, .unsupportedAlgorithm)
                XCTAssertTrue(error.message.utf8.allSatisfy { (0x20...0x7E).contains($0) },
                              "not printable ASCII: \(error.message.debugDescription)")
            }
        }
    }

    func testMalformedTokensAreRejected() throws {
        let key = try SigningKey.generate()
        let valid = try JWT.issue(TokenClaims(sub: "alice"), key: key)
        let parts = valid.split(separator: ".").map(String.init)
        let signed = { (header: String, payload: String) throws -> String in
            let input = Base64URL.encode(header) + "." + Base64URL.encode(payload)
            return input + "." + Base64URL.encode(try key.sign(Array(input.utf8)))
        }
        let malformed = [
            "", ".", "..", "a.b", "a.b.c.d", valid + ".", " " + valid, valid + "\n",
            parts[0] + "=." + parts[1] + "." + parts[2],          // padding
            parts[0] + "." + parts[1] + "+." + parts[2],          // standard-alphabet character
            parts[0] + ".." + parts[2],
            Base64URL.encode("not json") + "." + parts[1] + "." + parts[2],
            Base64URL.encode(#"{"alg":5}"#) + "." + parts[1] + "." + parts[2],
            Base64URL.encode("[]") + "." + parts[1] + "." + parts[2],
            try signed(#"{"alg":"ES256"}"#, "[]"),
            try signed(#"{"alg":"ES256"}"#, "null"),
            try signed(#"{"alg":"ES256"}"#, #"{"exp":"tomorrow"}"#),
            try signed(#"{"alg":"ES256"}"#, #"{"exp":1e300}"#),
            try signed(#"{"alg":"ES256"}"#, #"{"sub":42}"#),
            try signed(#"{"alg":"ES256"}"#, "{"),
            String(repeating: "A", count: JWT.maximumTokenSize + 1),
            String(repeating: "eyJh.", count: 4000),
        ]
        for token in malformed {
            assertRejected(token, key: key, as: .malformed)
            XCTAssertNil(JWT.unverifiedClaims(token), "unverifiedClaims accepted \(token.prefix(60).debugDescription)")
        }
    }

    func testDeeplyNestedJSONIsRejectedWithoutCrashing() throws {
        let key = try SigningKey.generate()
        let nested = #"{"a":"# + String(repeating: "[", count: 5_500) + String(repeating: "]", count: 5_500) + "}"
        let input = Base64URL.encode(#"{"alg":"ES256"}"#) + "." + Base64URL.encode(nested)
        let token = input + "." + Base64URL.encode(try key.sign(Array(input.utf8)))
        XCTAssertGreaterThan(token.utf8.count, 14_000)
        XCTAssertLessThanOrEqual(token.utf8.count, JWT.maximumTokenSize)
        // Whether the decoder accepts this depth or not, it must not crash, and
        // extra claims it does not know are ignored.
        _ = try? JWT.verify(token, key: key, now: now)
        _ = JWT.unverifiedClaims(token)
    }

    // MARK: - claims

    func testUnverifiedClaimsOfAnIssuedToken() throws {
        let token = try JWT.issue(TokenClaims(sub: "alice", exp: 1_700_003_600), key: try SigningKey.generate())
        XCTAssertEqual(JWT.unverifiedClaims(token)?.exp, 1_700_003_600)
    }

    func testIsExpiredWithLeeway() {
        let claims = TokenClaims(exp: 1_700_000_000)
        XCTAssertFalse(claims.isExpired(at: now.addingTimeInterval(-1)))
        XCTAssertTrue(claims.isExpired(at: now))
        XCTAssertFalse(claims.isExpired(at: now.addingTimeInterval(30), leeway: 60))
        XCTAssertTrue(claims.isExpired(at: now.addingTimeInterval(-30), leeway: -60))
        XCTAssertFalse(TokenClaims(sub: "no exp").isExpired(at: .distantFuture))
    }

    // MARK: - RFC 7515 Appendix A.3 (ES256 example)

    func testRFC7515AppendixA3TokenVerifies() throws {
        let key = try rfc7515A3Key()
        let token = "eyJhbGciOiJFUzI1NiJ9"
            + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
            + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
        let claims = try JWT.verify(token, key: key, now: Date(timeIntervalSince1970: 1_300_819_379))
        XCTAssertEqual(claims.iss, "joe")
        XCTAssertEqual(claims.exp, 1_300_819_380)
        assertRejected(token, key: key, now: Date(timeIntervalSince1970: 1_300_819_380), as: .expired)
        assertRejected(token, key: try SigningKey.generate(), now: Date(timeIntervalSince1970: 0), as: .badSignature)
    }

    /// The A.3.1 JWK (x, y, d) as a SEC1 "EC PRIVATE KEY": SEQUENCE { version 1,
    /// OCTET STRING d, [0] prime256v1, [1] BIT STRING 04||x||y }.
    private func rfc7515A3Key() throws -> SigningKey {
        let x = try XCTUnwrap(Base64URL.decode("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"))
        let y = try XCTUnwrap(Base64URL.decode("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"))
        let d = try XCTUnwrap(Base64URL.decode("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"))
        let der: [UInt8] = [0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20] + d
            + [0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
            + [0xA1, 0x44, 0x03, 0x42, 0x00, 0x04] + x + y
        let pem = "-----BEGIN EC PRIVATE KEY-----\n" + Data(der).base64EncodedString(options: .lineLength64Characters)
            + "\n-----END EC PRIVATE KEY-----\n"
        return try SigningKey(pem: pem)
    }

    // MARK: - helpers

    private func assertRejected(_ token: String, key: SigningKey, now: Date? = nil, as kind: JWTError.Kind,
                                file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try JWT.verify(token, key: key, now: now ?? self.now)
            XCTFail("accepted \(token.prefix(60).debugDescription)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.kind, kind, "\(error.message) for \(token.prefix(60).debugDescription)", file: file, line: line)
            XCTAssertFalse(token.count > 20 && error.message.contains(token), "error message leaks the token", file: file, line: line)
        }
    }
}
