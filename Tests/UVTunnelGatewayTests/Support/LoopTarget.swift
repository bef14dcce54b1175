import UVTunnel

/// A TCP target on the test's loop: `echo` sends back what it reads and
/// half-closes after the client's FIN; `stall` accepts and never reads.
final class LoopTarget {
    enum Mode { case echo, stall }

    let address: SocketAddress
    private let loop: EventLoop
    private var listener: TCPListener?
    private var sockets: [UVStream] = []
    /// Bytes `echo` read, over all connections; EOFs seen.
    private(set) var bytesRead = 0
    private(set) var eofs = 0
    private(set) var accepted = 0

    init(loop: EventLoop, mode: Mode) throws {
        self.loop = loop
        let listener = try TCPListener(loop: loop, address: try SocketAddress(ip: "127.0.0.1", port: 0))
        address = listener.address
        self.listener = listener
        listener.start { [weak self] socket in
            guard let self else { return socket.close() }
            self.accepted += 1
            self.sockets.append(socket)
            guard mode == .echo else { return }
            socket.onRead = { [weak self, weak socket] event in
                guard let self, let socket else { return }
                switch event {
                case .data(let buffer):
                    self.bytesRead += buffer.count
                    socket.write([buffer]) { _ in }
                case .eof:
                    self.eofs += 1
                    socket.shutdownWrite { _ in }
                case .error:
                    socket.close()
                }
            }
            socket.startReading()
        }
    }

    func close() {
        listener?.close()
        listener = nil
        sockets.forEach { $0.close() }
        sockets.removeAll()
    }
}
