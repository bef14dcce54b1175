import CShims

/// Parses PEM text into OpenSSL objects; the caller frees what it gets.
enum PEMReader {
    static func certificates(_ pem: String, origin: String) throws(TLSError) -> [OpaquePointer] {
        ERR_clear_error()
        let bytes = Array(pem.utf8)
        var result: [OpaquePointer] = []
        bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                result.append(certificate)
            }
        }
        ERR_clear_error()  // the last read always fails with "no start line"
        guard !result.isEmpty else {
            throw TLSError("\(origin): no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
        }
        return result
    }

    static func privateKey(_ pem: String, origin: String) throws(TLSError) -> OpaquePointer {
        ERR_clear_error()
        let bytes = Array(pem.utf8)
        let key: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let key else { throw TLSError.fromQueue("\(origin): no usable PEM private key") }
        return key
    }
}
