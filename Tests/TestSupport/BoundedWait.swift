import Foundation
import Synchronization
import XCTest

/// Bounded waits for tests: one name, one meaning. On timeout the test fails, the work is
/// cancelled and left behind (it may ignore cancellation), and the test goes on, so no await
/// can hang the suite. (There were two: `KafkaTestSupport.within`, which cancelled the work
/// and threw `TimedOut`, and `ChildProcess.bounded`, which did not cancel and threw
/// `CancellationError`.)
public enum BoundedWait {
    /// What a bounded wait throws when its time is up.
    public struct TimedOut: Error, CustomStringConvertible {
        public var what: String
        public init(what: String) { self.what = what }
        public var description: String { "timed out: \(what)" }
    }

    /// Runs `body` and waits for it at most `timeout`. The bound really fires: on timeout the
    /// test fails and goes on even if `body` ignores cancellation (it is cancelled and left
    /// behind), so no await in a test can hang the suite.
    public static func within<T: Sendable>(
        _ timeout: Duration, _ what: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let outcome = Mutex<CheckedContinuation<T, Error>?>(nil)
        let tasks = Mutex<[Task<Void, Never>]>([])
        let result: T = try await withCheckedThrowingContinuation { continuation in
            outcome.withLock { $0 = continuation }
            let finish: @Sendable (Result<T, Error>) -> Bool = { result in
                guard let continuation = outcome.withLock({ state in defer { state = nil }; return state }) else { return false }
                continuation.resume(with: result)
                return true
            }
            let work = Task {
                do { _ = finish(.success(try await body())) } catch { _ = finish(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                if finish(.failure(TimedOut(what: "\(what) (after \(timeout))"))) {
                    XCTFail("timed out after \(timeout): \(what)", file: file, line: line)
                    work.cancel()
                }
            }
            tasks.withLock { $0 = [work, timer] }
        }
        for task in tasks.withLock({ $0 }) { task.cancel() }
        return result
    }

    /// `within` that records the failure in the test instead of throwing it.
    public static func bounded(
        _ timeout: Duration, _ what: String, file: StaticString = #filePath, line: UInt = #line,
        _ body: @escaping @Sendable () async -> Void
    ) async {
        do {
            try await within(timeout, what, file: file, line: line) { await body() }
        } catch {
            XCTFail("\(error)", file: file, line: line)
        }
    }
}
