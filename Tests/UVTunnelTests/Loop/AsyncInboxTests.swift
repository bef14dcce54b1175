import Foundation
import XCTest
@testable import UVTunnel

/// AsyncInbox is the one door between threads: the sign-in thread posts its
/// results into the tunnel loop through it, and the tunnel loop posts
/// commands into the sign-in thread's loop. These tests hammer it from
/// several threads at once; run them under ThreadSanitizer too (Tests/sanitize).
final class AsyncInboxTests: XCTestCase {
    private struct Message: Sendable {
        var thread: Int
        var sequence: Int
    }

    /// What the loop thread saw; touched on the loop thread only.
    private final class Received {
        var sequences: [[Int]]
        var total = 0
        var timedOut = false
        init(threads: Int) { sequences = Array(repeating: [], count: threads) }
    }

    func testMessagesFromManyThreadsArriveOnceInPerThreadOrderAndTheLoopClosesClean() throws {
        let threads = 8
        let perThread = 10_000
        let loop = try EventLoop()
        let received = Received(threads: threads)
        let watchdog = UVTimer(loop: loop)
        var inboxRef: AsyncInbox<Message>?
        let inbox = try AsyncInbox<Message>(loop: loop) { message in
            received.sequences[message.thread].append(message.sequence)
            received.total += 1
            if received.total == threads * perThread {
                inboxRef?.close()
                watchdog.close()
            }
        }
        inboxRef = inbox
        // A lost wake-up or message would leave the loop waiting forever.
        watchdog.start(milliseconds: 30_000) {
            received.timedOut = true
            inbox.close()
            watchdog.close()
        }

        // All threads start posting at the same moment, for the most contention.
        let go = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let refused = Counter()
        for thread in 0..<threads {
            Thread {
                go.wait()
                for sequence in 0..<perThread where !inbox.post(Message(thread: thread, sequence: sequence)) {
                    refused.increment()
                }
                finished.signal()
            }.start()
        }
        for _ in 0..<threads { go.signal() }

        loop.run()  // returns once the inbox and the watchdog are closed
        for _ in 0..<threads { finished.wait() }

        XCTAssertFalse(received.timedOut, "only \(received.total) of \(threads * perThread) messages arrived")
        XCTAssertEqual(refused.value, 0, "post refused a message before close")
        for thread in 0..<threads {
            XCTAssertEqual(received.sequences[thread], Array(0..<perThread), "thread \(thread): lost, repeated or reordered")
        }
        XCTAssertEqual(loop.close(), 0, "a handle is still open after the inbox closed")
    }

    func testPostAfterCloseIsRefusedAndNeverDelivered() throws {
        let loop = try EventLoop()
        var delivered: [Int] = []
        let inbox = try AsyncInbox<Int>(loop: loop) { delivered.append($0) }
        XCTAssertTrue(inbox.post(1))
        loop.runOnce(block: true)  // the wake-up delivers 1
        inbox.close()

        // From another thread, as the sign-in thread would after a stop.
        let posted = DispatchSemaphore(value: 0)
        let accepted = Counter()
        Thread {
            if inbox.post(2) { accepted.increment() }
            posted.signal()
        }.start()
        posted.wait()
        loop.run()  // runs the close callback; must not deliver 2

        XCTAssertEqual(accepted.value, 0, "post after close reported success")
        XCTAssertEqual(delivered, [1])
        XCTAssertEqual(loop.close(), 0)
    }
}

/// A counter several threads may bump.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
