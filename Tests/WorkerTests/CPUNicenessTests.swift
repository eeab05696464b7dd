import Foundation
import Synchronization
@testable import Worker
import XCTest

/// `replay --cpu-nice`: the range and the never-raise rule, and on real threads of this
/// process that one thread's priority changes, that a thread it makes afterwards inherits it
/// (what lets the replay lower itself once at start), and that the others are left alone.
final class CPUNicenessTests: XCTestCase {
    func testRangeAndNeverRaisingPriority() throws {
        XCTAssertNil(CPUNiceness(-1), "raising priority is not what the option is for")
        XCTAssertNil(CPUNiceness(20))
        XCTAssertEqual(CPUNiceness(0)?.value, 0)
        let nice = try XCTUnwrap(CPUNiceness(10))
        XCTAssertEqual(nice.target(from: 0), 10)
        XCTAssertEqual(nice.target(from: 15), 15, "a thread already lower stays lower")
        XCTAssertEqual(nice.target(from: -5), 10)
    }

    #if os(Linux)
    /// The Linux thread id of the calling thread (/proc/thread-self names it: "<pid>/task/<tid>").
    private static func currentThreadID() -> Int32? {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self") else { return nil }
        return link.split(separator: "/").last.flatMap { Int32($0) }
    }

    /// Runs `body` on a new thread and returns what it returned.
    private static func onNewThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let value = body()
            result.withLock { $0 = value }
            done.signal()
        }
        thread.start()
        done.wait()
        return result.withLock { $0! }
    }

    func testLowersOneThreadAndTheThreadsItMakesInheritIt() throws {
        let mine = try XCTUnwrap(Self.currentThreadID())
        XCTAssertTrue(try CPUNiceness.threadIDs().contains(mine))
        let before = try CPUNiceness.niceness(ofThread: mine)
        let wanted = try XCTUnwrap(CPUNiceness(Int(min(before + 7, 19))))
        struct Seen: Sendable {
            var changed: Bool
            var own: Int32
            var child: Int32
            var ownID: Int32
        }
        let seen: Result<Seen, CPUNicenessError> = Self.onNewThread {
            guard let id = Self.currentThreadID() else { return .failure(.unsupported) }
            do throws(CPUNicenessError) {
                let changed = try wanted.apply(toThread: id)
                let own = try CPUNiceness.niceness(ofThread: id)
                let child: Result<Int32, CPUNicenessError> = Self.onNewThread {
                    guard let childID = Self.currentThreadID() else { return .failure(.unsupported) }
                    return Result { () throws(CPUNicenessError) in try CPUNiceness.niceness(ofThread: childID) }
                }
                return .success(Seen(changed: changed, own: own, child: try child.get(), ownID: id))
            } catch {
                return .failure(error)
            }
        }
        let result = try seen.get()
        XCTAssertEqual(result.changed, wanted.value != before)
        XCTAssertEqual(result.own, wanted.value, "the thread runs at the lower priority")
        XCTAssertEqual(result.child, wanted.value, "a thread made by a lowered thread inherits its priority")
        XCTAssertEqual(try CPUNiceness.niceness(ofThread: mine), before, "the other threads are left alone")
        XCTAssertNotEqual(result.ownID, mine)
    }
    #endif
}
