import NIOCore
import Synchronization

/// The health server's open connections and its counters: enforces the connection cap,
/// picks the connection to close when full, and hands every connection to `stop()`.
///
/// Called from the event loop (admit, remove, counts) and from `stop()` (any thread), so the
/// state sits behind a mutex; it is touched once per connection, not per byte.
final class HealthConnectionRegistry: Sendable {
    enum Admission {
        case admitted
        /// Admitted; close this older connection to make room.
        case admittedClosing(Channel)
        case refused
    }

    private struct State {
        var open: [ObjectIdentifier: (order: UInt64, channel: Channel)] = [:]
        var nextOrder: UInt64 = 0
        var stopping = false
        var statistics = HealthServer.Statistics()
    }

    private let maxConnections: Int
    private let whenFull: HealthServerConfiguration.WhenFull
    private let state = Mutex(State())

    init(maxConnections: Int, whenFull: HealthServerConfiguration.WhenFull) {
        self.maxConnections = maxConnections
        self.whenFull = whenFull
    }

    /// Decides whether `channel` (just accepted) may stay open.
    func admit(_ channel: Channel) -> Admission {
        state.withLock { state in
            if state.stopping {
                state.statistics.rejected += 1
                return .refused
            }
            var victim: Channel?
            if state.open.count >= maxConnections {
                guard whenFull == .closeOldest, let oldest = state.open.min(by: { $0.value.order < $1.value.order }) else {
                    state.statistics.rejected += 1
                    return .refused
                }
                state.open[oldest.key] = nil
                state.statistics.evicted += 1
                victim = oldest.value.channel
            }
            state.open[ObjectIdentifier(channel)] = (state.nextOrder, channel)
            state.nextOrder += 1
            state.statistics.accepted += 1
            return victim.map { .admittedClosing($0) } ?? .admitted
        }
    }

    /// Forgets a closed connection (no-op when it was already evicted).
    func remove(_ channel: Channel) {
        state.withLock { _ = $0.open.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Refuses every later connection and returns the open ones, for `stop()` to close.
    func beginStopping() -> [Channel] {
        state.withLock { state in
            state.stopping = true
            return state.open.values.map(\.channel)
        }
    }

    func count(_ counter: WritableKeyPath<HealthServer.Statistics, Int>) {
        state.withLock { $0.statistics[keyPath: counter] += 1 }
    }

    var statistics: HealthServer.Statistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.open = state.open.count
            return statistics
        }
    }
}
