import XCTest
@testable import UVTunnel

/// The client's side of JWT: reading claims it cannot verify. Issuing and
/// verifying are the gateway's (Tests/UVTunnelGatewayTests/Auth/JWTSigningTests).
final class JWTTests: XCTestCase {
    func testUnverifiedClaimsReadsExpiryToleratingExtrasAndFractions() throws {
        let payload = #"{"exp":1700003600.75,"iat":1.7e9,"sub":"alice","aud":["a","b"],"groups":["x"],"nested":{"k":[1,2]},"email":null}"#
        let token = Base64URL.encode(#"{"alg":"ES256","kid":"k1"}"#) + "." + Base64URL.encode(payload) + "." + Base64URL.encode([UInt8](repeating: 1, count: 64))
        let claims = try XCTUnwrap(JWT.unverifiedClaims(token))
        XCTAssertEqual(claims.exp, 1_700_003_600)
        XCTAssertEqual(claims.iat, 1_700_000_000)
        XCTAssertEqual(claims.sub, "alice")
        XCTAssertEqual(claims.aud, "a")
        XCTAssertNil(claims.iss)
    }
}
