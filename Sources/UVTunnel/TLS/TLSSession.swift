import CShims

/// Owns one `SSL` and the buffers its BIO reads and writes ciphertext in
/// (`BufferBIO`). The loop feeds it the buffers read from the socket and takes
/// the buffers of ciphertext it produces; it never touches a socket itself,
/// so the event loop stays in charge of all I/O.
final class TLSSession {
    private let ssl: OpaquePointer
    /// Outlives the SSL: `deinit` frees the SSL (and its BIO, which points
    /// here) before stored properties are released.
    private let ciphertext: BufferBIO
    private var sentCloseNotify = false
    /// Kept alive as long as the SSL: its session cache is the SSL_CTX's app data.
    private let context: TLSContext
    /// The gateway name a client session verifies (empty on the server side).
    let serverName: String

    enum Step { case done, wantMore, failed(TLSError) }
    /// What SessionTicketWait hears about a first handshake others wait on.
    enum TicketEvent { case handshakeDone, ticket, noTicket }
    /// Set only on such a handshake; cleared once a ticket came or none will.
    var ticketWatch: ((TicketEvent) -> Void)?
    enum ReadStep { case bytes(Int), wantMore, closed, failed(TLSError) }

    /// A client session: `serverName` goes in SNI (omitted for IP literals, as
    /// RFC 6066 asks) and is what the certificate must match.
    init(client context: TLSContext, serverName: String, verifyName: Bool, pool: BufferPool) throws(TLSError) {
        ciphertext = BufferBIO(pool: pool)
        ssl = try TLSSession.make(context, ciphertext)
        self.context = context
        self.serverName = serverName
        let isIP = serverName.contains(":") || serverName.allSatisfy { $0.isNumber || $0 == "." }
        if !isIP {
            _ = cshim_SSL_set_tlsext_host_name(ssl, serverName)
        }
        if verifyName {
            let param = SSL_get0_param(ssl)
            let ok = isIP ? X509_VERIFY_PARAM_set1_ip_asc(param, serverName) : X509_VERIFY_PARAM_set1_host(param, serverName, 0)
            guard ok == 1 else {
                // deinit frees `ssl`: every stored property is set by now.
                throw TLSError("cannot verify against \"\(serverName)\": not a valid host name or address")
            }
        }
        SSL_set_connect_state(ssl)
        // Unretained: the SSL never outlives this object (freed in deinit).
        _ = SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
        context.sessionCache?.offer(to: ssl, name: serverName)
    }

    init(server context: TLSContext, pool: BufferPool) throws(TLSError) {
        ciphertext = BufferBIO(pool: pool)
        ssl = try TLSSession.make(context, ciphertext)
        self.context = context
        serverName = ""
        SSL_set_accept_state(ssl)
    }

    private static func make(_ context: TLSContext, _ ciphertext: BufferBIO) throws(TLSError) -> OpaquePointer {
        ERR_clear_error()
        guard let ssl = SSL_new(context.raw) else { throw TLSError.fromQueue("SSL_new") }
        guard let bio = ciphertext.makeBIO() else {
            SSL_free(ssl)
            throw TLSError.fromQueue("BIO_new")
        }
        // One BIO for both directions: the SSL takes its one reference.
        SSL_set_bio(ssl, bio, bio)
        return ssl
    }

    deinit {
        reportTicket(.noTicket)  // a stream dropped without close() must not hold waiters
        SSL_free(ssl)
    }

    /// Hands a buffer of ciphertext from the socket to OpenSSL; it is the
    /// session's now, and goes back to the pool once read.
    func feed(_ buffer: Buffer) {
        ciphertext.feed(buffer)
    }

    func handshake() -> Step {
        ERR_clear_error()
        let status = SSL_do_handshake(ssl)
        if status == 1 {
            ticketWatch?(.handshakeDone)
            return .done
        }
        switch SSL_get_error(ssl, status) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .wantMore
        default:
            return .failed(handshakeError())
        }
    }

    private func handshakeError() -> TLSError {
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            ERR_clear_error()
            let reason = String(cString: X509_verify_cert_error_string(verify))
            return TLSError("TLS handshake failed: certificate verify failed: \(reason)", certificateProblem: reason)
        }
        return TLSError.fromQueue("TLS handshake failed")
    }

    /// Decrypts into the free space of `buffer`, as many records as fit.
    func read(into buffer: Buffer) -> ReadStep {
        var total = 0
        while buffer.freeSpace > 0 {
            TLSSession.clearErrorQueue()
            var readError: Int32 = 0
            let n = buffer.fill { base, space in
                let n = SSL_read(ssl, base, Int32(min(space, Int(Int32.max))))
                if n <= 0 { readError = SSL_get_error(ssl, n) }
                return Int(n)
            }
            if n > 0 {
                total += n
                continue
            }
            if total > 0 { return delivered(total) }
            switch readError {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantMore
            case SSL_ERROR_ZERO_RETURN: return .closed
            default: return .failed(TLSError.fromQueue("TLS read failed"))
            }
        }
        return delivered(total)
    }

    /// Application data came: a gateway sends its tickets before that (TLS 1.3
    /// sends them right after the handshake), so none is coming.
    private func delivered(_ total: Int) -> ReadStep {
        if ticketWatch != nil { reportTicket(.noTicket) }
        return .bytes(total)
    }

    /// Tells the watcher, if any; a ticket or its absence is the last word.
    func reportTicket(_ event: TicketEvent) {
        guard let watch = ticketWatch else { return }
        if event != .handshakeDone { ticketWatch = nil }
        watch(event)
    }

    /// Encrypts all of `buffer` (the BIO never pushes back).
    func write(_ buffer: Buffer) throws(TLSError) {
        guard buffer.count > 0 else { return }
        TLSSession.clearErrorQueue()
        let n = buffer.withReadableBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard n == buffer.count else { throw TLSError.fromQueue("TLS write failed") }
    }

    /// Empties the thread's error queue before an SSL call on the data path, as
    /// SSL_get_error requires, but looks first: ERR_clear_error wipes all 16
    /// slots even when the queue is empty, which was 5 % of the instructions
    /// per small message. SSL_get_error itself looks with ERR_peek_error, so
    /// "nothing to peek" is exactly "nothing that could mislead it".
    private static func clearErrorQueue() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    /// Queues close_notify: our direction of the TLS stream is finished.
    func sendCloseNotify() {
        guard !sentCloseNotify else { return }
        sentCloseNotify = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    var pendingOutput: Int { ciphertext.pendingOutput }

    /// Gives OpenSSL's record buffers back while the tunnel is idle: with
    /// RELEASE_BUFFERS OpenSSL 3.0 still keeps a 16 KiB write buffer per
    /// connection, which is most of an idle tunnel's memory. A no-op (returns
    /// false) while a record is half read or written.
    @discardableResult
    func releaseIdleBuffers() -> Bool { SSL_free_buffers(ssl) == 1 }

    /// Input not yet returned as plaintext: decrypted bytes, a partial record
    /// in OpenSSL's read buffer, or ciphertext OpenSSL has not read yet.
    /// SSL_has_pending, not SSL_pending: SSL_pending counts only decrypted
    /// bytes, so a connection cut inside a record (header and part of the body
    /// already read into OpenSSL) passed for a clean end (TLSStreamTests).
    var hasBufferedInput: Bool { SSL_has_pending(ssl) == 1 || ciphertext.pendingInput > 0 }

    /// The ciphertext produced so far, in pool buffers that are the caller's now.
    func takeOutput() -> [Buffer] {
        ciphertext.takeOutput()
    }

    /// The protocol ALPN settled on, if any.
    var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    /// True when this handshake resumed an earlier session.
    var resumed: Bool { SSL_session_reused(ssl) == 1 }
}
