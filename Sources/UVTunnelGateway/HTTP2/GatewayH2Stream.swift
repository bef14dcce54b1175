import CShims
import Logging
import UVTunnel

/// One stream of a gateway HTTP/2 connection: the request's header fields,
/// the same judgement and answers as the HTTP/1.1 path (`ConnectAdmission`),
/// then, for an admitted CONNECT, the target socket bridged to the stream
/// (GatewayH2Stream+Target.swift), for an admitted connect-udp a UDP socket
/// (GatewayH2Stream+UDP.swift). A GET is one of the sign-in pages.
///
/// Called by its session only outside nghttp2 (`act`), except for the
/// recording methods (`header`, `received`, ..., `produce`).
final class GatewayH2Stream: H2DataStream {

    /// Header bytes (names and values) one request may carry.
    static let maxHeaderBytes = 16 * 1024

    let id: Int32
    private(set) weak var session: GatewayH2Session?
    let loop: EventLoop
    let options: GatewayOptions
    let outboundLimit: Int
    /// The session's logger; a line adds the stream's id (`log`).
    private let sessionLogger: Logger
    /// Queued with the session for `act`.
    var isTouched = false

    // The request.
    private var fields: [(String, String)] = []
    private var headerBytes = 0
    private var requestDone = false
    private var judged = false
    var answered: Int?

    // Client → target: DATA not yet written to the target; its window stays
    // closed until the target took it.
    var inbound: [Buffer] = []
    /// The last of `inbound` is an adopted transport read whose free space
    /// may still hold input nghttp2 is parsing: copies start a new buffer.
    private var inboundSealed = false
    var clientEnded = false
    var targetShutdownStarted = false
    var targetShutdownDone = false

    // Target → client (or an answer's body): what the DATA source sends.
    var outbound = H2OutboundQueue()
    var outboundBytes: Int { outbound.bytes }
    var sourceEnded = false
    var targetPaused = false

    var target: UVStream?
    /// A connect-udp stream's socket and relay (GatewayH2Stream+UDP.swift).
    var udp: GatewayH2UDPSession?
    var isRelaying = false
    var resolving: ResolveRequest?
    var dialTimer: UVTimer?
    /// nghttp2 forgot the stream: `closeCode` says how (0: both sides ended).
    private(set) var isProtocolClosed = false
    private var closeCode: UInt32 = 0
    var isTornDown = false

    init(id: Int32, session: GatewayH2Session) {
        self.id = id
        self.session = session
        loop = session.loop
        options = session.options
        outboundLimit = session.limits.outboundLimit
        sessionLogger = session.logger
    }

    /// Logs with the stream's id, building that logger only for a line that
    /// is printed: setting metadata has the handler format all of it again,
    /// ~8,000 instructions per stream when done for every stream up front.
    func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message) {
        guard sessionLogger.logLevel <= level else { return }
        var logger = sessionLogger
        logger[metadataKey: "stream"] = "\(id)"
        logger.log(level: level, message())
    }

    // MARK: Inside nghttp2 (record only)

    func header(_ name: String, _ value: String) {
        headerBytes += name.utf8.count + value.utf8.count
        if headerBytes <= Self.maxHeaderBytes { fields.append((name, value)) }
    }

    func requestComplete() { requestDone = true }

    func remoteEnded() { clientEnded = true }

    /// Keeps the client's bytes for the target: the transport read itself
    /// when `adopt` gives it (narrowed to them), else a copy.
    func received(_ bytes: UnsafeRawBufferPointer, adopt: () -> Buffer?) {
        guard !isTornDown else { return }
        if let read = adopt() {
            inbound.append(read)
            inboundSealed = true
        } else {
            if inboundSealed {
                inbound.append(loop.buffers.take())
                inboundSealed = false
            }
            loop.buffers.append(copying: bytes, to: &inbound)
        }
    }

    func protocolClosed(code: UInt32) {
        isProtocolClosed = true
        closeCode = code
    }

    // MARK: Outside nghttp2

    /// Does what the recorded events call for.
    func act() {
        guard !isTornDown else { return }
        if requestDone && !judged {
            judged = true
            decide()
        }
        if let udp { udp.flush() }
        if isProtocolClosed { return ended() }
        if isRelaying { flushInbound() }
    }

    private func pseudo(_ name: String) -> String? { fields.first { $0.0 == name }?.1 }

    private func decide() {
        guard !isProtocolClosed else { return }
        guard headerBytes <= Self.maxHeaderBytes else {
            return answer(431, "Request Header Fields Too Large", why: "header fields over \(Self.maxHeaderBytes) bytes")
        }
        let method = pseudo(":method") ?? ""
        let authority = pseudo(":authority") ?? ""
        var headers = fields.filter { !$0.0.hasPrefix(":") }.map { HTTPHeader(name: $0.0, value: $0.1) }
        if !authority.isEmpty { headers.append(HTTPHeader(name: "Host", value: authority)) }
        let head = ConnectRequestHead(method: method, target: method == "CONNECT" ? authority : (pseudo(":path") ?? ""),
                                      version: "HTTP/2", headers: headers)
        guard method == "CONNECT" else { return page(head) }
        if let proto = pseudo(":protocol") {
            guard proto == "connect-udp", let udpTarget = ConnectUDPPath.target(path: pseudo(":path") ?? "") else {
                return answer(501, "Not Implemented", why: "extended CONNECT with :protocol \(proto) is not served")
            }
            return judgeUDP(udpTarget, token: head.pomeriumToken())
        }
        switch ConnectAdmission.judge(target: authority, token: head.pomeriumToken(), isUDP: false, options: options) {
        case .refuse(let status, let reason, let location, let why):
            answer(status, reason, extra: location.map { [("location", $0)] } ?? [], why: why)
        case .dial(let destination):
            dial(destination)
        }
    }

    /// A GET on an h2 connection: the sign-in pages, as over HTTP/1.1 (a
    /// browser that speaks h2 reaches them this way).
    private func page(_ head: ConnectRequestHead) {
        guard head.method == "GET", let issue = options.issueToken else {
            return answer(405, "Method Not Allowed", why: "method \(head.method)")
        }
        let login = GatewayLogin(issueToken: issue, autoApprove: options.autoApprove)
        let base = "\(options.tls == nil ? "http" : "https")://\(head.value(of: "Host") ?? "127.0.0.1")"
        guard case .response(let bytes, let status, let event) = login.answer(head, baseURL: base),
              let response = H2ResponseTranslation(bytes) else {
            return answer(500, "Internal Server Error", why: "sign-in page could not be composed")
        }
        send(status: status, headers: response.headers, body: response.body, why: event)
    }

    /// An error status with a one-line text body, as the HTTP/1.1 path answers.
    func answer(_ status: Int, _ reason: String, extra: [(String, String)] = [], why: String) {
        let body = Array("\(status) \(reason)\n".utf8)
        send(status: status, headers: extra + [("content-type", "text/plain"), ("content-length", "\(body.count)")],
             body: body, why: why)
    }

    private func send(status: Int, headers: [(String, String)], body: [UInt8], why: String) {
        guard answered == nil, let session else { return }
        answered = status
        cancelDial()
        log(.info, "answered \(status): \(why)")
        session.onAnswered?(status)
        if !body.isEmpty {
            loop.buffers.buffers(copying: body).forEach { outbound.append($0) }
        }
        sourceEnded = true
        // A request refused while its DATA keeps coming: what came is dropped
        // and its window reopened, so the connection's other streams go on.
        dropInbound()
        session.respond(self, status: status, headers: headers, body: !body.isEmpty)
    }

    /// Inbound bytes nobody will take: given back, their window reopened.
    func dropInbound() {
        let count = inbound.reduce(0) { $0 + $1.count }
        inbound.forEach { loop.buffers.give($0) }
        inbound.removeAll()
        if count > 0 { session?.consumed(count, on: self) }
    }

    /// nghttp2 closed the stream. Both sides ended cleanly: the target gets
    /// the client's last bytes and FIN before it closes. Reset: it closes now.
    private func ended() {
        if closeCode == 0, clientEnded, isRelaying, target != nil, !targetShutdownDone {
            flushInbound()
            if targetShutdownStarted { return }  // its completion tears down
        }
        if closeCode != 0 { log(.debug, "stream reset by the client (code \(closeCode))") }
        tearDown()
    }

    /// The one close path of everything the stream holds.
    func tearDown() {
        guard !isTornDown else { return }
        isTornDown = true
        cancelDial()
        target?.onRead = nil
        target?.close()
        target = nil
        udp?.close()
        udp = nil
        inbound.forEach { loop.buffers.give($0) }
        inbound.removeAll()
        outbound.drain(to: loop.buffers)
    }

    /// The connection is gone.
    func abort() { tearDown() }

    func cancelDial() {
        resolving?.abandon()
        resolving = nil
        dialTimer?.close()
        dialTimer = nil
    }
}
