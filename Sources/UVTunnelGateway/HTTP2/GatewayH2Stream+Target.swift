import CShims
import UVTunnel

/// The admitted CONNECT: dial the target, answer 200, then bridge. Flow
/// control follows the target socket both ways: the client's DATA is
/// consumed (its window reopened) only when the target took the bytes, and
/// the target is read only while this stream's queue toward the client is
/// under `outboundLimit` (nghttp2 drains it only within the stream's window).
extension GatewayH2Stream {
    func dial(_ destination: ConnectTarget) {
        let timer = UVTimer(loop: loop)
        dialTimer = timer
        timer.start(milliseconds: options.targetConnectTimeoutMilliseconds) { [weak self] in
            self?.answer(504, "Gateway Timeout", why: "target \(destination) did not answer")
        }
        resolving = Resolver.resolve(destination.host, port: destination.port, loop: loop) { [weak self] result in
            guard let self, !self.isTornDown, self.answered == nil else { return }
            self.resolving = nil
            guard case .success(let addresses) = result, let address = addresses.first else {
                return self.answer(502, "Bad Gateway", why: "cannot resolve \(destination.host)")
            }
            do throws(UVError) {
                let target = try UVStream.tcp(loop: self.loop)
                self.target = target
                try target.connect(to: address) { [weak self] error in
                    guard let self, !self.isTornDown, self.answered == nil else { return }
                    if let error { return self.answer(502, "Bad Gateway", why: "target \(destination): \(error.reason)") }
                    self.open(target)
                }
            } catch {
                self.answer(502, "Bad Gateway", why: "target \(destination): \(error.reason)")
            }
        }
    }

    private func open(_ target: UVStream) {
        guard let session else { return }
        cancelDial()
        target.setNoDelay()
        target.setKeepAlive()
        answered = 200
        isRelaying = true
        session.onAnswered?(200)
        session.respond(self, status: 200, headers: [], body: true)
        target.onRead = { [weak self] event in self?.targetRead(event) }
        target.startReading()
        // DATA the client sent right behind its HEADERS goes first.
        if !inbound.isEmpty || clientEnded {
            let early = inbound.reduce(0) { $0 + $1.count }
            log(.debug, "relaying with \(early) bytes\(clientEnded ? " and END_STREAM" : "") that came before the answer")
        }
        flushInbound()
    }

    /// Writes what the client sent to the target; consumes it when written.
    func flushInbound() {
        guard let target, isRelaying, !inbound.isEmpty || clientEnded else { return }
        if !inbound.isEmpty {
            let chunk = inbound
            inbound.removeAll()
            let count = chunk.reduce(0) { $0 + $1.count }
            let written = target.writeNow(chunk) { [weak self] error in
                guard let self, !self.isTornDown else { return }
                if let error { return self.targetFailed("write to target: \(error.message)") }
                self.session?.consumed(count, on: self)
            }
            if written { session?.consumed(count, on: self) }
        }
        // The client's END_STREAM: FIN to the target once its bytes are out
        // (libuv sends the shutdown after the queued writes).
        guard clientEnded, inbound.isEmpty, !targetShutdownStarted else { return }
        targetShutdownStarted = true
        target.shutdownWrite { [weak self] _ in
            guard let self, !self.isTornDown else { return }
            self.targetShutdownDone = true
            if self.isProtocolClosed { self.tearDown() }
        }
    }

    private func targetRead(_ event: ReadEvent) {
        guard !isTornDown else { return }
        switch event {
        case .data(let buffer):
            outbound.enqueue(buffer, pool: loop.buffers)
            if outboundBytes >= outboundLimit, !targetPaused {
                targetPaused = true
                target?.stopReading()
            }
            session?.resume(self)
        case .eof:
            // Target's FIN → END_STREAM after what is queued.
            sourceEnded = true
            session?.resume(self)
        case .error(let error):
            targetFailed("read from target: \(error.message)")
        }
    }

    /// Like a TCP reset in RFC 9113 section 8.5: RST_STREAM(CONNECT_ERROR).
    private func targetFailed(_ reason: String) {
        log(.debug, "stream reset: \(reason)")
        session?.reset(self, code: NGHTTP2_CONNECT_ERROR.rawValue)
        tearDown()
    }

    /// How long the next DATA frame should be (`H2OutboundQueue`).
    func preferredFrameLength(limit: Int) -> Int { outbound.preferredFrameLength(limit: limit) }

    /// The DATA source (inside nghttp2): up to `limit` queued bytes, END_STREAM
    /// once the target's FIN (or an answer's body) ended the source.
    func produce(upTo limit: Int) -> H2OutboundQueue.Produced { outbound.produce(upTo: limit, ended: sourceEnded) }

    /// Moves the first `count` queued bytes (at most `outboundBytes`) behind
    /// `chunks`, the session's next transport write: whole buffers as they
    /// are, a short payload or a part of a buffer by a copy. Reading the target again (libuv only,
    /// never nghttp2) once the queue fell to half its limit.
    func take(_ count: Int, into chunks: inout [Buffer]) {
        outbound.take(count, into: &chunks, pool: loop.buffers)
        if targetPaused, outboundBytes < outboundLimit / 2, !isTornDown {
            targetPaused = false
            target?.startReading()
        }
    }
}
