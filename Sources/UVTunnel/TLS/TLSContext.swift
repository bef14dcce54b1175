import CShims

/// How the client checks the gateway and presents itself (SPEC "Wire protocol").
public struct TLSClientOptions: Sendable {
    /// Off only with `--disable-tls-verification`.
    public var verifyPeer = true
    /// `--alternate-ca-path FILE`: PEM certificates trusted in addition to the system store.
    public var extraCAFile: String?
    /// `--ca-cert`: PEM text (already base64-decoded) trusted in addition.
    public var extraCAPEM: String?
    /// `--client-cert` / `--client-key` for mutual TLS.
    public var clientCertificateFile: String?
    public var clientKeyFile: String?
    /// How errors name these options (flags, or config-file keys).
    public var spelling: OptionSpelling = .commandLine
    /// What ALPN offers, in order of preference: `--multiplex` offers
    /// `["h2", "http/1.1"]` and falls back when the gateway picks HTTP/1.1.
    public var alpnProtocols = ["http/1.1"]

    public init() {}
}

/// Owns one `SSL_CTX`. It is configured once and then only read (OpenSSL makes
/// that safe across threads), hence `@unchecked Sendable`.
public final class TLSContext: @unchecked Sendable {
    let raw: OpaquePointer
    public let isServer: Bool
    /// Client contexts remember sessions per gateway name to resume them.
    let sessionCache: TLSSessionCache?
    /// A server's ALPN protocols in wire form, read by OpenSSL's select
    /// callback for the context's whole life (freed in deinit).
    private var alpnServerList: UnsafeMutableRawBufferPointer?

    private init(method: OpaquePointer, isServer: Bool) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(method) else { throw TLSError.fromQueue("SSL_CTX_new") }
        raw = ctx
        self.isServer = isServer
        sessionCache = isServer ? nil : TLSSessionCache()
        sessionCache?.attach(to: ctx)
        // TLS 1.2 is the floor (SPEC); buffers are released while a connection is idle.
        _ = cshim_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)
        _ = cshim_SSL_CTX_set_mode(ctx, cshim_SSL_MODE_RELEASE_BUFFERS())
    }

    deinit {
        SSL_CTX_free(raw)
        alpnServerList?.deallocate()
    }

    /// A server context picks the first of `protocols` (in its order of
    /// preference) that the client offers; a client offering none of them
    /// gets no ALPN answer, and the handshake goes on. Call before use.
    public func selectALPN(_ protocols: [String]) {
        precondition(isServer && alpnServerList == nil, "ALPN selection is set once, on a server context")
        let wire: [UInt8] = protocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        // The callback's argument: the list's length (4 bytes), then the list.
        let list = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 + wire.count, alignment: 4)
        list.storeBytes(of: UInt32(wire.count), as: UInt32.self)
        UnsafeMutableRawBufferPointer(rebasing: list[4...]).copyBytes(from: wire)
        alpnServerList = list
        SSL_CTX_set_alpn_select_cb(raw, { _, out, outLength, clientList, clientLength, arg in
            guard let arg, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
            let length = arg.load(as: UInt32.self)
            let bytes = UnsafeRawPointer(arg + 4).assumingMemoryBound(to: UInt8.self)
            var chosen: UnsafeMutablePointer<UInt8>?
            let status = SSL_select_next_proto(&chosen, outLength, bytes, length, clientList, clientLength)
            guard status == OPENSSL_NPN_NEGOTIATED, let chosen else { return SSL_TLSEXT_ERR_NOACK }
            out.pointee = UnsafePointer(chosen)
            return SSL_TLSEXT_ERR_OK
        }, UnsafeMutableRawPointer(list.baseAddress!))
    }

    public static func client(_ options: TLSClientOptions) throws(TLSError) -> TLSContext {
        let context = try TLSContext(method: TLS_client_method(), isServer: false)
        let ctx = context.raw
        let name = options.spelling.name
        if options.verifyPeer {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            // The system store; a missing one is not fatal when an extra CA is given.
            _ = SSL_CTX_set_default_verify_paths(ctx)
            ERR_clear_error()
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        if let file = options.extraCAFile {
            let certificates = try readFile(file, what: name("alternate-ca-path"))
            try context.trust(pem: certificates, origin: "\(name("alternate-ca-path")) \(file)")
        }
        if let pem = options.extraCAPEM {
            try context.trust(pem: pem, origin: name("ca-cert"))
        }
        switch (options.clientCertificateFile, options.clientKeyFile) {
        case let (cert?, key?):
            try context.useCertificate(pem: try readFile(cert, what: name("client-cert")),
                                       key: try readFile(key, what: name("client-key")),
                                       origin: "\(name("client-cert")) \(cert) / \(name("client-key")) \(key)")
        case (nil, nil):
            break
        default:
            throw TLSError("\(name("client-cert")) and \(name("client-key")) must be given together")
        }
        // ALPN's wire form: each name prefixed by its length.
        let alpn: [UInt8] = options.alpnProtocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        guard SSL_CTX_set_alpn_protos(ctx, alpn, UInt32(alpn.count)) == 0 else {
            throw TLSError.fromQueue("SSL_CTX_set_alpn_protos")
        }
        return context
    }

    /// A server context for the bundled gateway; with `clientCAPEM` it demands
    /// a client certificate signed by that CA (mutual TLS).
    public static func server(certificatePEM: String, privateKeyPEM: String, clientCAPEM: String? = nil) throws(TLSError) -> TLSContext {
        let context = try TLSContext(method: TLS_server_method(), isServer: true)
        try context.useCertificate(pem: certificatePEM, key: privateKeyPEM, origin: "gateway certificate")
        if let clientCAPEM {
            try context.trust(pem: clientCAPEM, origin: "client CA")
            SSL_CTX_set_verify(context.raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        return context
    }

    /// Adds every certificate in `pem` to the trust store.
    private func trust(pem: String, origin: String) throws(TLSError) {
        let certificates = try PEMReader.certificates(pem, origin: origin)
        let store = SSL_CTX_get_cert_store(raw)
        for certificate in certificates {
            defer { X509_free(certificate) }
            ERR_clear_error()
            if X509_STORE_add_cert(store, certificate) != 1 {
                // A certificate already in the store is fine; anything else is not.
                let error = TLSError.fromQueue("adding \(origin) to the trust store")
                if !error.message.contains("already in hash table") { throw error }
            }
        }
    }

    private func useCertificate(pem: String, key: String, origin: String) throws(TLSError) {
        let chain = try PEMReader.certificates(pem, origin: origin)
        defer { chain.forEach { X509_free($0) } }
        ERR_clear_error()
        guard SSL_CTX_use_certificate(raw, chain[0]) == 1 else { throw TLSError.fromQueue("using \(origin)") }
        for extra in chain.dropFirst() {
            guard SSL_CTX_add1_chain_cert_shim(raw, extra) else { throw TLSError.fromQueue("adding chain of \(origin)") }
        }
        let privateKey = try PEMReader.privateKey(key, origin: origin)
        defer { EVP_PKEY_free(privateKey) }
        guard SSL_CTX_use_PrivateKey(raw, privateKey) == 1 else { throw TLSError.fromQueue("using key of \(origin)") }
        guard SSL_CTX_check_private_key(raw) == 1 else {
            throw TLSError("\(origin): the private key does not match the certificate")
        }
    }

    private func SSL_CTX_add1_chain_cert_shim(_ ctx: OpaquePointer, _ cert: OpaquePointer) -> Bool {
        cshim_SSL_CTX_add1_chain_cert(ctx, cert) == 1
    }
}

/// Reads a small PEM file for a flag, naming the flag when it cannot.
func readFile(_ path: String, what flag: String) throws(TLSError) -> String {
    guard let data = FileBytes.read(path, limit: 1 << 20) else {
        throw TLSError("\(flag) \(path): cannot read the file (missing, unreadable or larger than 1 MiB)")
    }
    return String(decoding: data, as: UTF8.self)
}
