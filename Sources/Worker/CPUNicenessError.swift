#if canImport(Glibc)
import Glibc
#endif

/// Why `--cpu-nice` could not lower a thread's priority.
public enum CPUNicenessError: Error, Equatable, CustomStringConvertible {
    /// No /proc/self/task or no per-thread priorities (not Linux).
    case unsupported
    case noSuchThread(Int32)
    case failed(thread: Int32, errno: Int32)

    public var description: String {
        switch self {
        case .unsupported: "per-thread CPU priorities need Linux (/proc/self/task)"
        case .noSuchThread(let thread): "thread \(thread) ended"
        case .failed(let thread, let code): "setpriority on thread \(thread): \(String(cString: strerror(code)))"
        }
    }
}
