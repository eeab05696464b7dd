#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// `duoguard replay --cpu-nice N`: the replay's threads run at a lower CPU priority, so a
/// live worker on the same host gets the cores whenever it has work and the replay takes
/// only what live leaves idle.
///
/// A same-host complement to `--yield-to-group`, not a replacement: niceness reaches only
/// processes sharing this kernel's scheduler; the Kafka lag gate is what reaches live workers
/// on other machines. With nothing else runnable, a niced replay runs as fast as before (the
/// scheduler gives idle cores to whoever wants them), which is why it can be on always.
///
/// Linux keeps a nice value per thread, so setting it for the process means every thread:
/// the ones running now (listed in /proc/self/task); a thread made later inherits the value of
/// the thread that makes it, which the runtime's thread pools do not guarantee is a lowered
/// one, so `duoguard replay` sweeps again every second.
public struct CPUNiceness: Sendable, Equatable {
    /// 1 (a little lower) to 19 (the lowest priority).
    public let value: Int32

    /// Nil outside 0...19 (0: leave priorities alone).
    public init?(_ value: Int) {
        guard (0...19).contains(value) else { return nil }
        self.value = Int32(value)
    }

    /// The nice value a thread at `current` gets: never raised in priority (an unprivileged
    /// process may not, and a replay started already niced by its operator stays so).
    public func target(from current: Int32) -> Int32 { max(current, value) }

    /// Applies to every thread of this process; returns how many were changed. A thread that
    /// ended meanwhile is skipped; any other failure is an error (the operator asked for it).
    @discardableResult
    public func applyToProcess() throws(CPUNicenessError) -> Int {
        var changed = 0
        for thread in try Self.threadIDs() {
            do {
                if try apply(toThread: thread) { changed += 1 }
            } catch .noSuchThread {
                continue
            }
        }
        return changed
    }

    /// Sets one thread's nice value; true when it changed.
    public func apply(toThread thread: Int32) throws(CPUNicenessError) -> Bool {
        #if os(Linux)
        let current = try Self.niceness(ofThread: thread)
        let wanted = target(from: current)
        guard wanted != current else { return false }
        guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(thread), wanted) == 0 else {
            throw errno == ESRCH ? .noSuchThread(thread) : .failed(thread: thread, errno: errno)
        }
        return true
        #else
        throw .unsupported
        #endif
    }

    /// A thread's nice value now.
    public static func niceness(ofThread thread: Int32) throws(CPUNicenessError) -> Int32 {
        #if os(Linux)
        errno = 0  // -1 is a valid nice value: only errno tells a failure
        let value = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(thread))
        if value == -1, errno != 0 { throw errno == ESRCH ? .noSuchThread(thread) : .failed(thread: thread, errno: errno) }
        return value
        #else
        throw .unsupported
        #endif
    }

    /// This process's threads now (Linux thread ids).
    public static func threadIDs() throws(CPUNicenessError) -> [Int32] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        } catch {
            throw .unsupported
        }
        return names.compactMap { Int32($0) }.sorted()
    }
}
