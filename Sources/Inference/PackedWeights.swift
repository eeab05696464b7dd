import CKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The Q8_0/Q4_0 matrices of a model repacked once, at load, into the layout the matrix
/// kernels read (16-row panels, `ck_pack_weights`; docs/kernels.md).
///
/// Why: repacking weight panels inside every matrix multiply cost 4–5% of a forward pass and
/// forced the kernels into a layout that had to be rebuilt per call. The packed copy has the
/// size of the ggml data, so to keep the resident size from doubling, each matrix's pages of
/// the mapped file are given back (`madvise(MADV_DONTNEED)`) right after it is packed: the
/// file stays ggml-compatible on disk and in the page cache, and the process keeps one copy.
/// The trade-off: the packed copy is private memory, so several worker processes on one
/// host no longer share weight pages through the page cache.
///
/// Packing is memory-bound and spread over the pool (disjoint panel ranges).
final class PackedWeights: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer?
    /// Bytes of packed weights (0 when nothing was packed).
    let byteCount: Int

    /// Packs every matrix of `matrices` whose type the kernels pack and returns them with
    /// `packed` set, in the same order. If the memory cannot be had, nothing is packed and the
    /// matrices come back unchanged (the kernels then read the ggml layout, a little slower).
    /// `targets[i]` (a ck_type raw value) requantizes matrix i into that packed type instead
    /// (CK_TYPE_Q8_R: `WeightFormat.q8Row`); nil or a missing entry packs it as stored.
    init(packing matrices: inout [WeightMatrix], targets: [UInt32?] = [], pool: ThreadPool) {
        let alignment = 4096
        var offsets: [Int?] = []
        var total = 0
        let target = { (i: Int) -> ck_type? in i < targets.count ? targets[i].map { ck_type(rawValue: $0) } : nil }
        for (i, m) in matrices.enumerated() {
            let bytes = m.packedBytes(as: target(i))
            guard bytes > 0, total <= Int.max - bytes - alignment else {
                offsets.append(nil)
                continue
            }
            offsets.append(total)
            total = (total + bytes + alignment - 1) / alignment * alignment
        }
        guard total > 0, let mapping = Self.allocate(total) else {
            base = nil
            byteCount = 0
            return
        }
        base = mapping
        byteCount = total
        for (i, offset) in offsets.enumerated() {
            guard let offset else { continue }
            let m = matrices[i]
            let out = mapping + offset
            let panels = (m.rows + Int(CK_PANEL_ROWS) - 1) / Int(CK_PANEL_ROWS)
            let tasks = min(panels, pool.threadCount == 1 ? 1 : pool.threadCount * 4)
            let per = (panels + tasks - 1) / tasks
            let type = m.type.ckType, data = m.data, rows = Int64(m.rows), cols = Int64(m.cols)
            let requantized = target(i)
            pool.parallelFor(tasks) { task in
                let begin = task * per
                let end = min(panels, begin + per)
                guard begin < end else { return }
                if requantized == CK_TYPE_Q8_R {
                    ck_pack_weights_q8r(type, data, rows, cols, Int64(begin), Int64(end), out)
                } else {
                    ck_pack_weights(type, data, rows, cols, Int64(begin), Int64(end), out)
                }
            }
            matrices[i].packed = UnsafeRawPointer(out)
            matrices[i].packedType = requantized
            Self.releasePages(m.data, count: m.rowBytes * m.rows)
        }
    }

    deinit {
        if let base { munmap(base, byteCount) }
    }

    /// Anonymous private memory (page-aligned; transparent huge pages where the kernel
    /// offers them, which spares TLB misses when the kernels stream the weights).
    private static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            return nil
        }
        #if os(Linux)
        _ = madvise(p, bytes, MADV_HUGEPAGE)
        #endif
        return p
    }

    /// Drops the whole pages of a mapped file range from this process (they stay in the page
    /// cache and fault back in if ever read again).
    static func releasePages(_ start: UnsafeRawPointer, count: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let last = (Int(bitPattern: start) + count) / page * page
        guard last > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, last - first, MADV_DONTNEED)
    }
}
