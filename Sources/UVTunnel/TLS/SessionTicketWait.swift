/// Holds TLS starts to a gateway while a full handshake to it is under way on
/// this loop, until that handshake's session ticket is cached; they then
/// resume. In a burst nearly every handshake would otherwise start before the
/// first ticket arrives, each a full one keeping its own parsed copy of the
/// gateway's certificate chain (~3.3 KiB per idle tunnel, perf/sections/memory.md).
///
/// Nothing may stall on it: every waiter goes (with a full handshake if no
/// ticket came) when the first handshake fails or its connection closes, when
/// its first application data came without a ticket or none came within
/// `afterHandshakeMilliseconds` of its end, and when the waiter's own limit
/// passes. One per loop (`EventLoop.sessionTicketWait`): the sign-in thread's
/// loop keeps its own.
final class SessionTicketWait {
    /// How long after the first handshake a ticket may still come, when no
    /// application data came first (that releases at once): a gateway that
    /// issues none and answers slowly costs a burst at most this, once. Not
    /// 200 ms: a loop turn of a 2,000-tunnel burst takes longer than that, and
    /// libuv runs due timers before it reads, so the bound fired before the
    /// ticket that had already arrived was read (perf/sections/memory.md).
    static let afterHandshakeMilliseconds: UInt64 = 1_000

    /// One session-cache name of one client context.
    struct Key: Hashable {
        let cache: ObjectIdentifier
        let name: String
    }

    enum Admission {
        /// Start the handshake now (a ticket is cached, or none is expected).
        case go
        /// Start it now and report on it: `watch` goes on its `TLSStream`.
        case lead(watch: (TLSSession.TicketEvent) -> Void)
        /// Wait: `proceed` runs later, unless `Waiter.withdraw()` first.
        case wait(Waiter)
    }

    final class Waiter {
        fileprivate let proceed: () -> Void
        fileprivate let timer: UVTimer
        fileprivate weak var gate: SessionTicketWait?
        fileprivate let key: Key

        fileprivate init(gate: SessionTicketWait, key: Key, proceed: @escaping () -> Void) {
            self.gate = gate
            self.key = key
            self.proceed = proceed
            timer = UVTimer(loop: gate.loop)
        }

        /// The dial was cancelled: `proceed` never runs.
        func withdraw() {
            timer.close()
            gate?.leaders[key]?.waiters[ObjectIdentifier(self)] = nil
        }
    }

    private final class Leader {
        var waiters: [ObjectIdentifier: Waiter] = [:]
        let timer: UVTimer
        var handshakeDone = false
        init(loop: EventLoop) { timer = UVTimer(loop: loop) }
    }

    private unowned let loop: EventLoop
    private var leaders: [Key: Leader] = [:]

    init(loop: EventLoop) { self.loop = loop }

    /// Waiters held now for `name` (tests).
    func waiting(for name: String) -> Int {
        leaders.filter { $0.key.name == name }.values.reduce(0) { $0 + $1.waiters.count }
    }

    /// Decides whether a TLS start to `name` under `cache` goes now, leads or
    /// waits (at most `limitMilliseconds`, then `proceed` runs anyway).
    func admit(cache: TLSSessionCache?, name: String, limitMilliseconds: UInt64,
               proceed: @escaping () -> Void) -> Admission {
        guard let cache, cache.lacksTicket(for: name) else { return .go }
        let key = Key(cache: ObjectIdentifier(cache), name: name)
        if let leader = leaders[key] {
            let waiter = Waiter(gate: self, key: key, proceed: proceed)
            leader.waiters[ObjectIdentifier(waiter)] = waiter
            let id = ObjectIdentifier(waiter)
            waiter.timer.start(milliseconds: limitMilliseconds) { [weak self] in
                guard let self, let held = self.leaders[key]?.waiters.removeValue(forKey: id) else { return }
                held.timer.close()
                held.proceed()
            }
            return .wait(waiter)
        }
        let leader = Leader(loop: loop)
        leaders[key] = leader
        return .lead(watch: { [weak self, weak leader, cache] event in
            guard let self, let leader, self.leaders[key] === leader else { return }
            self.heard(event, leader: leader, key: key, cache: cache)
        })
    }

    /// Called from inside OpenSSL (the ticket callback, SSL_read) or a close:
    /// the waiters' handshakes start on the next turn, never re-entrantly.
    private func heard(_ event: TLSSession.TicketEvent, leader: Leader, key: Key, cache: TLSSessionCache) {
        switch event {
        case .handshakeDone:
            leader.handshakeDone = true
            leader.timer.start(milliseconds: Self.afterHandshakeMilliseconds) { [weak self] in
                cache.noteNoTicket(from: key.name)
                self?.release(key)
            }
        case .ticket:
            leader.timer.start(milliseconds: 0) { [weak self] in self?.release(key) }
        case .noTicket:
            if leader.handshakeDone { cache.noteNoTicket(from: key.name) }
            leader.timer.start(milliseconds: 0) { [weak self] in self?.release(key) }
        }
    }

    private func release(_ key: Key) {
        guard let leader = leaders.removeValue(forKey: key) else { return }
        leader.timer.close()
        for waiter in leader.waiters.values {
            waiter.timer.close()
            waiter.proceed()
        }
    }
}
