import UVTunnel

/// Opens `count` sessions with at most `concurrency` under way at once, as a
/// client pool would, so a burst of SYNs does not overflow a listen backlog.
final class Opener {
    private let loop: EventLoop
    private let address: SocketAddress
    private let mode: Mode
    private let count: Int
    private let concurrency: Int
    private var started = 0
    private var inProgress = 0
    private var isFilling = false
    private var finished = false

    /// Every session created, open or not (so a scenario can close them all).
    private(set) var all: [Session] = []
    private(set) var open: [Session] = []
    private(set) var openFailures = 0
    /// Sessions that ended after they were open.
    private(set) var lost = 0
    private(set) var firstError: String?

    /// Runs for each session before it connects (to set `onData`).
    var configure: ((Session) -> Void)?
    /// Runs as each session opens.
    var onOpen: ((Session) -> Void)?
    /// Runs once every session has opened or failed.
    var onDone: (() -> Void)?

    init(loop: EventLoop, address: SocketAddress, mode: Mode, count: Int, concurrency: Int) {
        self.loop = loop
        self.address = address
        self.mode = mode
        self.count = count
        self.concurrency = concurrency
        all.reserveCapacity(count)
        open.reserveCapacity(count)
    }

    func start() { fill() }

    var errors: Int { openFailures + lost }

    private func fill() {
        // A connect can fail synchronously and call back into fill: the outer loop carries on.
        guard !isFilling else { return }
        isFilling = true
        while inProgress < concurrency && started < count {
            started += 1
            inProgress += 1
            let session: Session
            do {
                session = try Session(loop: loop, index: started - 1)
            } catch {
                note(error.description)
                inProgress -= 1
                openFailures += 1
                continue
            }
            all.append(session)
            session.onOpen = { [self] session in
                inProgress -= 1
                open.append(session)
                onOpen?(session)
                fill()
            }
            session.onEnd = { [self] session, reason in
                note(reason)
                if session.isOpen {
                    lost += 1
                } else {
                    inProgress -= 1
                    openFailures += 1
                    fill()
                }
            }
            configure?(session)
            session.open(address, mode: mode)
        }
        isFilling = false
        if inProgress == 0 && started == count && !finished {
            finished = true
            onDone?()
        }
    }

    private func note(_ reason: String) {
        if firstError == nil { firstError = reason }
    }

    func closeAll() {
        for session in all { session.close() }
    }
}
