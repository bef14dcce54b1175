/// Runs a body once at the start of the next loop turn, however often it is
/// armed before then: the HTTP/2 sessions (client and gateway) gather one
/// turn's work this way (many tunnels' frames, the reads of one drain) into
/// one pump and one transport write. Its timer is made when first armed.
package final class NextTurn {
    private let loop: EventLoop
    private var timer: UVTimer?
    private var isArmed = false

    package init(loop: EventLoop) {
        self.loop = loop
    }

    /// `body` runs next turn unless a body is already due then (that one runs).
    package func arm(_ body: @escaping () -> Void) {
        guard !isArmed else { return }
        isArmed = true
        let timer = self.timer ?? UVTimer(loop: loop)
        self.timer = timer
        timer.start(milliseconds: 0) { [weak self] in
            self?.isArmed = false
            body()
        }
    }

    /// Nothing armed runs after it; dropping a NextTurn does the same.
    package func close() {
        timer?.close()
        timer = nil
        isArmed = false
    }

    deinit { timer?.close() }
}
