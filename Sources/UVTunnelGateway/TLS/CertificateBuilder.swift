import CShims
import UVTunnel

/// Owns one OpenSSL `X509` while a certificate is being assembled and signed,
/// and frees it in deinit. Each step is one OpenSSL call and throws a
/// `CryptoError` naming that step when OpenSSL refuses.
final class CertificateBuilder {
    private let x509: OpaquePointer

    init() throws(CryptoError) {
        ERR_clear_error()
        guard let x509 = X509_new() else { throw .openSSL("allocate X509 certificate") }
        self.x509 = x509
    }

    deinit { X509_free(x509) }

    func setVersion3() throws(CryptoError) {
        ERR_clear_error()
        // The version field is zero-based: 2 means X.509 v3 (needed for extensions).
        guard X509_set_version(x509, 2) == 1 else { throw .openSSL("set certificate version") }
    }

    /// A positive 127-bit random serial: RFC 5280 wants serials unique per issuer,
    /// and random ones let freshly made gateway certificates never collide in a
    /// client's session cache or trust store.
    func setRandomSerial() throws(CryptoError) {
        let operation = "set certificate serial number"
        ERR_clear_error()
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw .openSSL(operation) }
        bytes[0] = (bytes[0] & 0x7F) | 0x40  // positive, non-zero, fixed length
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw .openSSL(operation) }
        defer { BN_free(number) }
        guard let serial = X509_get_serialNumber(x509), BN_to_ASN1_INTEGER(number, serial) != nil else {
            throw .openSSL(operation)
        }
    }

    /// Valid from `notBeforeOffset` seconds relative to now (negative: in the
    /// past, to tolerate clock skew) until `notAfterOffset` seconds from now.
    func setValidity(notBeforeOffset: Int, notAfterOffset: Int) throws(CryptoError) {
        ERR_clear_error()
        guard X509_gmtime_adj(X509_getm_notBefore(x509), notBeforeOffset) != nil,
              X509_gmtime_adj(X509_getm_notAfter(x509), notAfterOffset) != nil
        else { throw .openSSL("set certificate validity") }
    }

    /// Subject and issuer are both CN=`commonName`: the certificate is self-signed.
    func setSelfIssuedName(commonName: String) throws(CryptoError) {
        let operation = "set certificate subject"
        ERR_clear_error()
        guard let name = cshim_X509_get_subject_name(x509),
              X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1,
              X509_set_issuer_name(x509, name) == 1
        else { throw .openSSL(operation) }
    }

    func setPublicKey(_ key: SigningKey) throws(CryptoError) {
        ERR_clear_error()
        try key.withEVPKey { (pkey) throws(CryptoError) in
            guard X509_set_pubkey(x509, pkey) == 1 else { throw .openSSL("set certificate public key") }
        }
    }

    /// Adds one extension written in OpenSSL's config syntax (as in openssl.cnf),
    /// e.g. "critical,CA:TRUE". Key identifier extensions read the public key and
    /// the issuer (itself) from the context, so call this after `setPublicKey`.
    func addExtension(nid: Int32, value: String) throws(CryptoError) {
        let operation = "add certificate extension \(String(cString: OBJ_nid2sn(nid)))"
        ERR_clear_error()
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, x509, x509, nil, nil, 0)
        guard let extensionObject = X509V3_EXT_conf_nid(nil, &context, nid, value) else { throw .openSSL(operation) }
        defer { X509_EXTENSION_free(extensionObject) }
        guard X509_add_ext(x509, extensionObject, -1) == 1 else { throw .openSSL(operation) }
    }

    func sign(with key: SigningKey) throws(CryptoError) {
        ERR_clear_error()
        try key.withEVPKey { (pkey) throws(CryptoError) in
            guard X509_sign(x509, pkey, EVP_sha256()) > 0 else { throw .openSSL("sign certificate") }
        }
    }

    func pem() throws(CryptoError) -> String {
        let operation = "write PEM certificate"
        let buffer = try PEMBuffer(operation: operation)
        ERR_clear_error()
        guard PEM_write_bio_X509(buffer.bio, x509) == 1 else { throw .openSSL(operation) }
        return try buffer.text(operation: operation)
    }
}
