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
            enqueue(buffer)
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
        logger.debug("stream reset: \(reason)")
        session?.reset(self, code: NGHTTP2_CONNECT_ERROR.rawValue)
        tearDown()
    }

    /// Queues the target's bytes, first into the last queued buffer's free
    /// space, so small reads do not each hold a whole pool buffer.
    private func enqueue(_ buffer: Buffer) {
        outboundBytes += buffer.count
        if let last = outbound.last, last.freeSpace > 0, !buffer.isEmpty {
            let moved = last.fill { base, space in
                buffer.withReadableBytes { bytes in
                    let n = min(space, bytes.count)
                    base.copyMemory(from: bytes.baseAddress!, byteCount: n)
                    return n
                }
            }
            buffer.consume(moved)
        }
        if buffer.isEmpty { loop.buffers.give(buffer) } else { outbound.append(buffer) }
    }

    /// The DATA source (inside nghttp2): at most `space` bytes of the queue.
    /// Reading the target again (libuv only, never nghttp2) once the queue
    /// fell to half its limit.
    func produce(into space: UnsafeMutableRawBufferPointer) -> Produced {
        var written = 0
        while written < space.count, let first = outbound.first {
            let n = min(first.count, space.count - written)
            first.withReadableBytes { bytes in
                (space.baseAddress! + written).copyMemory(from: bytes.baseAddress!, byteCount: n)
            }
            first.consume(n)
            written += n
            outboundBytes -= n
            if first.isEmpty { loop.buffers.give(outbound.removeFirst()) }
        }
        if targetPaused, outboundBytes < outboundLimit / 2, !isTornDown {
            targetPaused = false
            target?.startReading()
        }
        if outbound.isEmpty && sourceEnded { return .end(written) }
        return written > 0 ? .bytes(written) : .nothingYet
    }
}
