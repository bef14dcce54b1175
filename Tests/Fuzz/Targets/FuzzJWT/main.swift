import FuzzSupport
import Foundation
@testable import UVTunnel
import UVTunnelGateway

/// JWT.unverifiedClaims (the client reading `exp` of a cached or redirected
/// token) and JWT.verify (the bundled gateway checking a client's token).
/// Input: [split:2][bytes]. The bytes are tried as a token text; and, cut at
/// the split into a header and a payload, signed with a fixed key, so the
/// claims decoder behind a valid signature is fuzzed too.
FuzzMain.run(fuzzJWT)

/// Made once, on first use (a static, not a main.swift global: those are
/// set in order as top-level code runs, i.e. after FuzzMain.run never returns).
private enum Fixed {
    static let key = try! SigningKey.generate()
    static let now = Date(timeIntervalSince1970: 1_700_000_000)
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzJWT(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = FuzzInput(data, size)
    let text = String(decoding: input.bytes, as: UTF8.self)
    _ = JWT.unverifiedClaims(text)
    // Nobody without the key can make a token verify: random bytes never do.
    switch Result(catching: { () throws(JWTError) in try JWT.verify(text, key: Fixed.key, now: Fixed.now) }) {
    case .success:
        Fuzz.fail("a token we did not sign verified")
    case .failure(let error):
        checkError(error, token: text)
    }

    let (header, payload) = input.split()
    let signingInput = Base64URL.encode(Array(header)) + "." + Base64URL.encode(Array(payload))
    guard let signature = try? Fixed.key.sign(Array(signingInput.utf8)) else { Fuzz.fail("signing failed") }
    let token = signingInput + "." + Base64URL.encode(signature)
    let unverified = JWT.unverifiedClaims(token)
    // Past every expiry, so a successful verify means the claims decoded.
    let verified = Result(catching: { () throws(JWTError) in try JWT.verify(token, key: Fixed.key, now: .distantPast) })
    switch verified {
    case .success(let claims):
        // The client and the gateway must read the same claims from one token.
        Fuzz.equal(unverified, claims, "unverified vs verified claims")
    case .failure(let error):
        checkError(error, token: token)
        Fuzz.check(error.kind != .badSignature, "our own signature did not verify")
        if error.kind == .malformed && error.message.contains("payload") {
            Fuzz.check(unverified == nil, "claims the gateway refuses were read by the client")
        }
    }
    return 0
}

/// Errors are logged: one printable line, and never the token (or its
/// signature, the part that makes it a credential).
private func checkError(_ error: JWTError, token: String) {
    Fuzz.checkLogLine(error.message, "JWT error")
    if let signature = token.split(separator: ".").last, signature.utf8.count >= 8 {
        Fuzz.check(!error.message.contains(signature), "JWT error shows the token's signature")
    }
}
