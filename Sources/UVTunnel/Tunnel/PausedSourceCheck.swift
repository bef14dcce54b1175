/// While a relay direction is paused (its sink's kernel buffer is full, so
/// its source is not read: backpressure), nothing watches the source's
/// socket: libuv polls a stream only for what it asked, and a stopped read
/// asks for nothing. A local client that resets or dies behind a far side
/// that never reads would go unnoticed for as long as the stall lasts, which
/// can be forever. So, only while some direction is paused, a timer asks the
/// paused sources' kernels once a second, without reading, whether the peer
/// has gone for good (`ByteStream.departure`); a direction that moves again
/// costs nothing, and the timer stops at the first tick that finds none
/// paused, so idle tunnels wake nobody.
final class PausedSourceCheck {
    /// Once a second: one poll(2) per paused direction, nothing per byte.
    static let intervalMilliseconds: UInt64 = 1000

    private let loop: EventLoop
    /// Made at the first pause: a relay that never stalls holds no timer.
    private var timer: UVTimer?
    private var isRunning = false
    /// Checks the paused sources; false when none is paused any more.
    private let tick: () -> Bool

    init(loop: EventLoop, tick: @escaping () -> Bool) {
        self.loop = loop
        self.tick = tick
    }

    /// A direction has just paused: make sure a check comes within the interval.
    func arm() {
        guard !isRunning else { return }
        isRunning = true
        let timer = self.timer ?? UVTimer(loop: loop)
        if self.timer == nil {
            // Housekeeping: the streams keep the loop alive, never this timer
            // (a loop whose relays were closed without finishing must still end).
            timer.unref()
            self.timer = timer
        }
        let interval = Self.intervalMilliseconds
        timer.start(milliseconds: interval, repeat: interval) { [weak self] in
            guard let self, self.isRunning else { return }
            if !self.tick() { self.disarm() }
        }
    }

    private func disarm() {
        isRunning = false
        timer?.stop()
    }

    /// The timer's one close path (the relay's end, or its owner dropping it).
    func close() {
        isRunning = false
        timer?.close()
        timer = nil
    }

    deinit { timer?.close() }
}
