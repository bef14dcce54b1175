import CShims
import UVTunnel

/// An EC P-256 private key that signs and verifies ES256 (ECDSA with SHA-256)
/// signatures in the JOSE form: the raw 64-byte r||s, not OpenSSL's DER.
///
/// It owns one `EVP_PKEY` and frees it in deinit. The key is never mutated after
/// init and every operation uses its own `EVP_MD_CTX`; OpenSSL allows such
/// concurrent read-only use of one `EVP_PKEY`, so `@unchecked Sendable` is honest.
public final class SigningKey: @unchecked Sendable {
    /// ES256 signatures are the two 32-byte P-256 scalars r and s, concatenated.
    public static let signatureSize = 64
    private static let scalarSize = 32

    private let pkey: OpaquePointer

    /// Takes ownership of `pkey` only once it is known to be an EC P-256 key;
    /// otherwise frees it and throws, so no instance ever holds another key type.
    private init(adopting pkey: OpaquePointer, operation: String) throws(CryptoError) {
        guard SigningKey.isP256(pkey) else {
            EVP_PKEY_free(pkey)
            throw CryptoError(operation: operation, detail: "the key is not an EC P-256 key")
        }
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }

    /// A fresh random P-256 key.
    public static func generate() throws(CryptoError) -> SigningKey {
        let operation = "generate P-256 key"
        ERR_clear_error()
        guard let pkey = cshim_generate_p256_key() else { throw .openSSL(operation) }
        return try SigningKey(adopting: pkey, operation: operation)
    }

    /// Loads an unencrypted PEM private key (PKCS#8 "PRIVATE KEY" or SEC1
    /// "EC PRIVATE KEY"). Encrypted keys are refused rather than prompting on
    /// the terminal, which is what OpenSSL's default password callback would do.
    public convenience init(pem: String) throws(CryptoError) {
        let operation = "load PEM private key"
        let buffer = try PEMBuffer(text: pem, operation: operation)
        ERR_clear_error()
        // The password callback refuses (returns -1), so encrypted keys fail.
        guard let pkey = PEM_read_bio_PrivateKey(buffer.bio, nil, { _, _, _, _ in -1 }, nil) else {
            throw .openSSL(operation)
        }
        try self.init(adopting: pkey, operation: operation)
    }

    /// The key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
    public var privateKeyPEM: String {
        get throws(CryptoError) {
            let operation = "write PEM private key"
            let buffer = try PEMBuffer(operation: operation)
            ERR_clear_error()
            guard PEM_write_bio_PrivateKey(buffer.bio, pkey, nil, nil, 0, nil, nil) == 1 else {
                throw .openSSL(operation)
            }
            return try buffer.text(operation: operation)
        }
    }

    /// Signs `data` with ECDSA P-256 / SHA-256 and returns the 64-byte r||s.
    public func sign(_ data: [UInt8]) throws(CryptoError) -> [UInt8] {
        let operation = "ES256 sign"
        ERR_clear_error()
        guard let ctx = EVP_MD_CTX_new() else { throw .openSSL(operation) }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, pkey) == 1 else { throw .openSSL(operation) }
        // EVP_PKEY_get_size is the largest DER signature this key can produce.
        var derLength = Int(EVP_PKEY_get_size(pkey))
        guard derLength > 0 else { throw .openSSL(operation) }
        var der = [UInt8](repeating: 0, count: derLength)
        guard EVP_DigestSign(ctx, &der, &derLength, data, data.count) == 1 else { throw .openSSL(operation) }
        return try SigningKey.rawSignature(fromDER: Array(der.prefix(derLength)))
    }

    /// True when `signature` is a valid 64-byte r||s ES256 signature of `data`
    /// by this key. Any malformed signature is simply not valid.
    public func verify(_ signature: [UInt8], of data: [UInt8]) -> Bool {
        guard signature.count == SigningKey.signatureSize else { return false }
        ERR_clear_error()
        // A failed verification leaves entries on the thread's error queue;
        // drop them so they are not blamed on the next, unrelated operation.
        defer { ERR_clear_error() }
        guard let der = SigningKey.derSignature(fromRaw: signature) else { return false }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, pkey) == 1 else { return false }
        return EVP_DigestVerify(ctx, der, der.count, data, data.count) == 1
    }

    /// Lends the `EVP_PKEY` to another owner class (to sign a certificate).
    /// The pointer must not escape `body`; this object keeps ownership.
    func withEVPKey<R>(_ body: (OpaquePointer) throws(CryptoError) -> R) throws(CryptoError) -> R {
        try body(pkey)
    }

    // MARK: - DER <-> JOSE signature forms

    /// OpenSSL emits ECDSA-Sig-Value DER (a SEQUENCE of two INTEGERs); JOSE wants
    /// each integer left-padded to 32 bytes and the two concatenated.
    private static func rawSignature(fromDER der: [UInt8]) throws(CryptoError) -> [UInt8] {
        let operation = "convert ECDSA signature to r||s"
        let sig: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let sig else { throw .openSSL(operation) }
        defer { ECDSA_SIG_free(sig) }
        var r: OpaquePointer? = nil
        var s: OpaquePointer? = nil
        ECDSA_SIG_get0(sig, &r, &s)
        var rBytes = [UInt8](repeating: 0, count: scalarSize)
        var sBytes = [UInt8](repeating: 0, count: scalarSize)
        guard let r, let s,
              BN_bn2binpad(r, &rBytes, Int32(scalarSize)) == Int32(scalarSize),
              BN_bn2binpad(s, &sBytes, Int32(scalarSize)) == Int32(scalarSize)
        else { throw .openSSL(operation) }
        return rBytes + sBytes
    }

    /// The inverse of `rawSignature`; nil when OpenSSL rejects the numbers.
    private static func derSignature(fromRaw raw: [UInt8]) -> [UInt8]? {
        let rBytes = Array(raw[0..<scalarSize])
        let sBytes = Array(raw[scalarSize..<signatureSize])
        guard let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        guard let r = BN_bin2bn(rBytes, Int32(scalarSize), nil) else { return nil }
        guard let s = BN_bin2bn(sBytes, Int32(scalarSize), nil) else { BN_free(r); return nil }
        // On success ECDSA_SIG_set0 takes ownership of r and s; on failure we still own them.
        guard ECDSA_SIG_set0(sig, r, s) == 1 else { BN_free(r); BN_free(s); return nil }
        let length = i2d_ECDSA_SIG(sig, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_ECDSA_SIG(sig, &cursor)
        }
        return written == length ? der : nil
    }

    /// EC keys report their curve as a group name; OpenSSL calls P-256 "prime256v1".
    private static func isP256(_ pkey: OpaquePointer) -> Bool {
        guard EVP_PKEY_is_a(pkey, "EC") == 1 else { return false }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else { return false }
        let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return group == "prime256v1" || group == "P-256"
    }
}
