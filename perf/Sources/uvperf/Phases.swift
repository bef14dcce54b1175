import UVTunnel

/// A warm-up, then a measured window: `begin` runs when measuring starts and
/// `end` when it stops; `elapsed` is the measured window's real length.
final class Phases {
    private let timer: UVTimer
    private(set) var beganAt: UInt64 = 0
    private(set) var endedAt: UInt64 = 0
    private(set) var isMeasuring = false

    init(loop: EventLoop) { timer = UVTimer(loop: loop) }

    func start(warmup: Double, seconds: Double, begin: @escaping () -> Void, end: @escaping () -> Void) {
        timer.start(milliseconds: milliseconds(warmup)) { [self] in
            beganAt = nowNanos()
            isMeasuring = true
            begin()
            timer.start(milliseconds: milliseconds(seconds)) { [self] in
                endedAt = nowNanos()
                isMeasuring = false
                timer.close()
                end()
            }
        }
    }

    var elapsedSeconds: Double { Double(endedAt &- beganAt) / 1e9 }

    func close() { timer.close() }
}

/// Bounds a scenario: if it has not finished by then, `body` ends it.
func deadline(loop: EventLoop, seconds: Double, _ body: @escaping () -> Void) -> UVTimer {
    let timer = UVTimer(loop: loop)
    timer.start(milliseconds: milliseconds(seconds)) {
        timer.close()
        body()
    }
    return timer
}
