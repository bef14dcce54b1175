import CShims
import UVTunnel

/// An OpenSSL memory BIO used to move PEM text in and out of OpenSSL's
/// PEM_read_bio_* / PEM_write_bio_* functions. It owns the BIO and frees it in
/// deinit. Input bytes are copied into the BIO (rather than BIO_new_mem_buf,
/// which would alias Swift memory whose lifetime we do not control).
final class PEMBuffer {
    /// PEM inputs we accept (keys, certificates) are a few KiB; anything larger
    /// is not a key or certificate we made, so refuse before OpenSSL parses it.
    static let maximumInputSize = 64 * 1024

    let bio: OpaquePointer

    /// An empty buffer for PEM_write_bio_* to fill.
    init(operation: String) throws(CryptoError) {
        ERR_clear_error()
        guard let bio = BIO_new(BIO_s_mem()) else { throw .openSSL(operation) }
        self.bio = bio
    }

    /// A buffer holding `text`, for PEM_read_bio_* to parse.
    convenience init(text: String, operation: String) throws(CryptoError) {
        let bytes = Array(text.utf8)
        guard bytes.count <= PEMBuffer.maximumInputSize else {
            throw CryptoError(operation: operation, detail: "input is larger than \(PEMBuffer.maximumInputSize) bytes")
        }
        try self.init(operation: operation)
        guard !bytes.isEmpty else { return }
        let written = BIO_write(bio, bytes, Int32(bytes.count))
        guard written == Int32(bytes.count) else { throw .openSSL(operation) }
    }

    deinit { BIO_free(bio) }

    /// Everything written into the buffer so far, as text (PEM is ASCII).
    func text(operation: String) throws(CryptoError) -> String {
        let pending = Int(BIO_ctrl_pending(bio))
        guard pending > 0 else { throw CryptoError(operation: operation, detail: "no output") }
        var bytes = [UInt8](repeating: 0, count: pending)
        let read = BIO_read(bio, &bytes, Int32(pending))
        guard read == Int32(pending) else { throw .openSSL(operation) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
