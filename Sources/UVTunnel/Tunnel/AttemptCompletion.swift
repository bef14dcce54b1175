/// What every `ConnectAttempt` does alike: its completion runs once, from
/// the loop, never inside `open` (a result that comes while the attempt is
/// starting waits for the next loop turn) and never after `cancel`; a
/// success that comes when nobody waits any more is closed. Its timer is the
/// connect timeout, and the next-turn hop for an early result.
final class AttemptCompletion {
    typealias Completion = (Result<ByteStream, TunnelFailure>) -> Void

    let timer: UVTimer
    private var completion: Completion?
    private var isStarting = false
    private var early: Result<ByteStream, TunnelFailure>?

    init(loop: EventLoop, completion: @escaping Completion) {
        timer = UVTimer(loop: loop)
        self.completion = completion
    }

    /// An attempt dropped without finishing: the timer handle still closes.
    deinit { timer.close() }

    /// Nobody has been told yet, and nobody cancelled.
    var isPending: Bool { completion != nil }

    /// Runs `body`, which may finish the attempt at once; such a result
    /// goes to `deliver` on the next loop turn (the timer, re-armed at 0 ms).
    func starting(_ body: () -> Void, deliver: @escaping (Result<ByteStream, TunnelFailure>) -> Void) {
        isStarting = true
        body()
        isStarting = false
        if let early {
            self.early = nil
            timer.start(milliseconds: 0) { deliver(early) }
        }
    }

    /// Tells the owner's caller `result`, after `release` (the attempt's own
    /// parts) ran; while starting, holds it for the next turn.
    func finish(_ result: Result<ByteStream, TunnelFailure>, release: () -> Void) {
        if isStarting {
            early = result
            return
        }
        guard let done = completion else {
            if case .success(let stream) = result { stream.close() }
            return
        }
        completion = nil
        timer.close()
        release()
        done(result)
    }

    /// The owner went away: `release` runs, no completion after this.
    func cancel(release: () -> Void) {
        guard completion != nil else { return }
        completion = nil
        early = nil
        timer.close()
        release()
    }
}
