import XCTest
@testable import UVTunnel

/// The heap is trimmed once a burst is over: never while connections are
/// still opening or closing, once on the first quiet period, not again
/// until something new happened.
final class HeapTrimTriggerTests: XCTestCase {
    func testFiresOnceOnTheFirstQuietPeriodAfterABurstAndNeverDuringIt() {
        var trigger = HeapTrimTrigger(churn: 0)
        XCTAssertFalse(trigger.tick(churn: 0, released: 0), "nothing happened yet")
        var churn = 0
        for period in 1...5 {
            churn += 400
            XCTAssertFalse(trigger.tick(churn: churn, released: 0), "period \(period) of the burst")
        }
        XCTAssertTrue(trigger.tick(churn: churn, released: 0), "the first quiet period")
        for _ in 1...3 { XCTAssertFalse(trigger.tick(churn: churn, released: 0), "once is enough") }
    }

    func testBuffersThePoolFreedInAQuietPeriodAreTrimmedButNotWhileConnectionsChurn() {
        var trigger = HeapTrimTrigger(churn: 10)
        XCTAssertFalse(trigger.tick(churn: 11, released: 50), "still churning")
        XCTAssertTrue(trigger.tick(churn: 11, released: 0))
        XCTAssertTrue(trigger.tick(churn: 11, released: 3), "a steady load's leftovers, freed in a quiet period")
        XCTAssertFalse(trigger.tick(churn: 11, released: 0))
    }

    func testAPeriodWithoutChurnWhileHandshakesAreStillRunningIsNotQuiet() {
        var trigger = HeapTrimTrigger(churn: 0)
        XCTAssertFalse(trigger.tick(churn: 2000, opening: 2000, released: 0), "all accepted at once")
        XCTAssertFalse(trigger.tick(churn: 2000, opening: 2000, released: 0), "a second with no handshake finished")
        XCTAssertFalse(trigger.tick(churn: 3500, opening: 500, released: 0))
        XCTAssertFalse(trigger.tick(churn: 4000, opening: 0, released: 0), "the last ones opened in this period")
        XCTAssertTrue(trigger.tick(churn: 4000, opening: 0, released: 0))
    }
}
