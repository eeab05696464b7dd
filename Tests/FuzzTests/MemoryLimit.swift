import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Caps the process's address space while a target runs, so that an input which makes a
/// parser allocate far more than it holds fails at once (Swift aborts when an allocation
/// fails) instead of swapping the machine or being missed. Linux only (RLIMIT_AS).
struct MemoryLimit {
    private var saved = rlimit()
    private var applied = false

    /// Limits the address space to what is mapped now plus `headroom` bytes.
    mutating func apply(headroom: Int) {
        #if os(Linux)
        guard getrlimit(RLIMIT_AS_VALUE, &saved) == 0, let current = Self.virtualSize() else { return }
        var limit = saved
        let wanted = rlim_t(current + headroom)
        limit.rlim_cur = min(wanted, saved.rlim_max)
        applied = setrlimit(RLIMIT_AS_VALUE, &limit) == 0
        #endif
    }

    mutating func restore() {
        #if os(Linux)
        if applied { setrlimit(RLIMIT_AS_VALUE, &saved) }
        applied = false
        #endif
    }

    #if os(Linux)
    private var RLIMIT_AS_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_AS.rawValue) }
    #endif

    /// VmSize from /proc/self/status, in bytes.
    static func virtualSize() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmSize:") {
            let kB = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return kB.map { $0 * 1024 }
        }
        return nil
    }
}
