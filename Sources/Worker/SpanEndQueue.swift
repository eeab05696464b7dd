import Dispatch
import Synchronization

/// A bounded queue between the data path and the span exporter (issue 21 item 12): ending a
/// span costs the worker one atomic increment and a Dispatch enqueue, whatever the exporter
/// does; the exporter's side (`QueuedEndTracer`'s inner spans) runs on this queue's own
/// serial Dispatch queue. At most `capacity` ends wait; past that a span is dropped (never
/// handed to the exporter) and `onDrop` counts it (`duoguard_spans_dropped_total`). A
/// collector that never answers can therefore cost memory bounded by `capacity` spans and
/// drops, never time on the data path.
public final class SpanEndQueue: Sendable {
    private let capacity: Int
    private let waiting = Atomic<Int>(0)
    private let onDrop: @Sendable () -> Void
    private let queue = DispatchQueue(label: "duoguard.span-export")

    public init(capacity: Int = 4_096, onDrop: @escaping @Sendable () -> Void) {
        self.capacity = capacity
        self.onDrop = onDrop
    }

    /// Ends waiting to be handed to the exporter.
    public var count: Int { waiting.load(ordering: .relaxed) }

    /// Hands `end` to the exporter's side, or drops it when `capacity` ends are waiting.
    /// Never blocks. Returns false when dropped.
    @discardableResult
    public func enqueue(_ end: @escaping @Sendable () -> Void) -> Bool {
        let before = waiting.add(1, ordering: .acquiringAndReleasing).oldValue
        guard before < capacity else {
            waiting.subtract(1, ordering: .acquiringAndReleasing)
            onDrop()
            return false
        }
        queue.async { [self] in
            end()
            waiting.subtract(1, ordering: .acquiringAndReleasing)
        }
        return true
    }
}
