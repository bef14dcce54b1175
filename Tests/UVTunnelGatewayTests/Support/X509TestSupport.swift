import CShims
import Foundation

/// Test-only owner of a parsed certificate: runs OpenSSL's own chain
/// verification against a store that trusts only this certificate, the way a
/// client given it as `--alternate-ca-path` would. Frees everything it holds.
final class TestCertificate {
    private let x509: OpaquePointer

    init?(pem: String) {
        let bytes = Array(pem.utf8)
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard BIO_write(bio, bytes, Int32(bytes.count)) == Int32(bytes.count),
              let x509 = PEM_read_bio_X509(bio, nil, nil, nil)
        else { return nil }
        self.x509 = x509
    }

    deinit { X509_free(x509) }

    enum Expectation { case host(String), ip(String) }

    /// X509_verify_cert with the TLS-server purpose and a host or IP check;
    /// returns nil on success, else OpenSSL's verify error text.
    func verificationError(for expectation: Expectation, at date: Date? = nil) -> String? {
        guard let store = X509_STORE_new() else { return "X509_STORE_new failed" }
        defer { X509_STORE_free(store) }
        guard X509_STORE_add_cert(store, x509) == 1, let context = X509_STORE_CTX_new() else { return "store setup failed" }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, x509, nil) == 1 else { return "X509_STORE_CTX_init failed" }
        _ = X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER)
        let parameters = X509_STORE_CTX_get0_param(context)
        switch expectation {
        case .host(let host): guard X509_VERIFY_PARAM_set1_host(parameters, host, 0) == 1 else { return "set1_host failed" }
        case .ip(let ip): guard X509_VERIFY_PARAM_set1_ip_asc(parameters, ip) == 1 else { return "set1_ip_asc failed" }
        }
        if let date { X509_VERIFY_PARAM_set_time(parameters, time_t(date.timeIntervalSince1970)) }
        defer { ERR_clear_error() }
        if X509_verify_cert(context) == 1 { return nil }
        return String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(context))))
    }

    var isCA: Bool { X509_check_ca(x509) >= 1 }

    var version: Int { Int(X509_get_version(x509)) }

    var serialHex: String {
        guard let number = ASN1_INTEGER_to_BN(X509_get_serialNumber(x509), nil) else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { cshim_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    /// True when `privateKeyPEM` is the key this certificate was issued for.
    func matches(privateKeyPEM: String) -> Bool {
        let bytes = Array(privateKeyPEM.utf8)
        guard let bio = BIO_new(BIO_s_mem()) else { return false }
        defer { BIO_free(bio) }
        guard BIO_write(bio, bytes, Int32(bytes.count)) == Int32(bytes.count),
              let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        else { return false }
        defer { EVP_PKEY_free(key) }
        return X509_check_private_key(x509, key) == 1
    }

    /// The signature is ECDSA with SHA-256.
    var signatureIsECDSAWithSHA256: Bool { X509_get_signature_nid(x509) == NID_ecdsa_with_SHA256 }

    /// The critical flag of the extension `nid`, or nil when absent.
    func isCritical(_ nid: Int32) -> Bool? {
        let index = X509_get_ext_by_NID(x509, nid, -1)
        guard index >= 0, let ext = X509_get_ext(x509, index) else { return nil }
        return X509_EXTENSION_get_critical(ext) == 1
    }

    var keyUsage: UInt32 { X509_get_key_usage(x509) }
}
