#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Page-granular anonymous memory for the large buffers of inference (the packed weights, the
/// activation buffers of `RunState`), and the one rounding rule both use.
///
/// Why one helper: both regions are carved into 4 KB-aligned pieces inside a single mapping,
/// and the packed-weights file format (`PackedWeightsFile`) stores those offsets, so the rule
/// must be the same constant everywhere (not the running kernel's page size), and the mapping
/// code (huge-page advice, failure handling) lived twice.
enum AnonymousMemory {
    /// Alignment of every piece carved out of a mapping (also the packed-weights file's).
    static let alignment = 4096

    /// `bytes` rounded up to `alignment`, or nil if that overflows.
    static func roundedUp(_ bytes: Int) -> Int? {
        let (sum, overflow) = bytes.addingReportingOverflow(alignment - 1)
        return overflow ? nil : sum / alignment * alignment
    }

    /// Zeroed, page-aligned private memory that the OS supplies on first touch (untouched pages
    /// cost nothing). `hugePages` asks for transparent huge pages (Linux), which spares TLB
    /// misses where a kernel streams a large region (the packed weights). Nil when the OS
    /// refuses; release with `munmap(p, bytes)`.
    static func map(_ bytes: Int, hugePages: Bool) -> UnsafeMutableRawPointer? {
        guard bytes > 0,
              let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED
        else { return nil }
        #if os(Linux)
        if hugePages { _ = madvise(p, bytes, MADV_HUGEPAGE) }
        #endif
        return p
    }
}
