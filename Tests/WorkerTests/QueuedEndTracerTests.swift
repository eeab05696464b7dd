import Dispatch
import InMemoryTracing
import Synchronization
import Tracing
import Worker
import XCTest

/// Issue 21 item 12: span ends go to the exporter through a bounded queue. With the
/// exporter's side stuck (a collector that never answers), ending a span still returns at
/// once, at most `capacity` ends wait, the rest are dropped and counted; once it moves again,
/// the queued spans reach it with the instants they ended at.
final class QueuedEndTracerTests: XCTestCase {
    func testAStuckExporterNeitherDelaysEndsNorGrowsTheQueueAndDropsAreCounted() throws {
        let dropped = Atomic<Int>(0)
        let queue = SpanEndQueue(capacity: 4) { dropped.add(1, ordering: .relaxed) }
        let inner = InMemoryTracer()
        let tracer = QueuedEndTracer(inner: inner, queue: queue)
        // The exporter's side is stuck: its serial queue is busy until released.
        let stuck = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        XCTAssertTrue(queue.enqueue { entered.signal(); stuck.wait() })
        entered.wait()

        let started = ContinuousClock.now
        var endedAt: [String: UInt64] = [:]
        for i in 0..<100 {
            let span = tracer.startAnySpan("span-\(i)", context: .topLevel, ofKind: .internal)
            span.attributes["i"] = i
            let instant = DefaultTracerClock.now
            endedAt["span-\(i)"] = instant.nanosecondsSinceEpoch
            span.end(at: instant)
        }
        let took = ContinuousClock.now - started
        XCTAssertLessThan(took, .milliseconds(500), "ending 100 spans never waits for the exporter (took \(took))")
        XCTAssertEqual(queue.count, 4, "the stuck end and 3 queued: bounded")
        XCTAssertEqual(dropped.load(ordering: .relaxed), 97, "every end past the bound is dropped and counted")
        XCTAssertTrue(inner.finishedSpans.isEmpty, "nothing reached the stuck exporter yet")

        stuck.signal()
        for _ in 0..<200 where queue.count > 0 { Thread.sleep(forTimeInterval: 0.01) }
        let finished = inner.finishedSpans
        XCTAssertEqual(finished.map(\.operationName), ["span-0", "span-1", "span-2"], "the queued ends, in order")
        for span in finished {
            XCTAssertEqual(span.endInstant.nanosecondsSinceEpoch, endedAt[span.operationName], "ended at its own instant, not when exported")
        }
    }
}
