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
/// Packed into private memory, each worker process on a host would hold its own copy; so
/// when a packed-weights file is configured (`PackedWeightsStorage`), the packed bytes are
/// mapped read-only and shared from that file instead (`PackedWeightsFile`: checked against
/// the model, the kernels and the layout version; built there when missing and allowed).
///
/// Packing is memory-bound and spread over the pool (disjoint panel ranges).
final class PackedWeights: @unchecked Sendable {
    /// Start of the mapping (private memory, or the whole packed-weights file).
    private let base: UnsafeMutableRawPointer?
    /// Bytes of the mapping (0 when nothing was packed).
    let byteCount: Int
    /// Where the packed bytes came from.
    let origin: PackedWeightsOrigin

    /// The packed-weights file to use: its path, the model's content hash (the file's key,
    /// with the kernels and `PackedWeightsFile.layoutVersion`), whether it may be (re)built,
    /// and whether its data digest is checked (reads every page).
    struct FileRequest {
        var path: String
        var contentHash: String
        var mayWrite: Bool
        var verifyData: Bool
    }

    /// Packs every matrix of `matrices` whose type the kernels pack and returns them with
    /// `packed` set, in the same order: mapped from `file` when it matches (or was built
    /// there), else packed into private memory. If no memory can be had, nothing is packed and
    /// the matrices come back unchanged (the kernels then read the ggml layout, a little slower).
    /// `targets[i]` (a ck_type raw value) requantizes matrix i into that packed type instead
    /// (CK_TYPE_Q8_R: `WeightFormat.q8Row`); nil or a missing entry packs it as stored.
    init(packing matrices: inout [WeightMatrix], targets requested: [UInt32?] = [], pool: ThreadPool, file: FileRequest? = nil) {
        var offsets: [Int?] = []
        var total = 0
        let targets: [ck_type?] = matrices.indices.map { i in
            i < requested.count ? requested[i].map { ck_type(rawValue: $0) } : nil
        }
        for (i, m) in matrices.enumerated() {
            // Each matrix starts on an AnonymousMemory.alignment boundary (the file's offsets too).
            let bytes = m.packedBytes(as: targets[i])
            guard bytes > 0, total <= Int.max - bytes, let end = AnonymousMemory.roundedUp(total + bytes) else {
                offsets.append(nil)
                continue
            }
            offsets.append(total)
            total = end
        }
        guard total > 0 else {
            (base, byteCount, origin) = (nil, 0, .none)
            return
        }
        let unpacked = matrices
        let packAll = { (out: UnsafeMutableRawPointer) in Self.pack(unpacked, targets: targets, offsets: offsets, into: out, pool: pool) }
        var mapped: (mapping: PackedWeightsFile.Mapping, origin: PackedWeightsOrigin)?
        var reason = "no packed-weights file configured"
        if let file {
            switch Self.mapFile(file, matrices: unpacked, targets: targets, offsets: offsets, total: total, pack: packAll) {
            case .success(let result): mapped = result
            case .failure(let rejected): reason = rejected.description
            }
        }
        let data: UnsafeMutableRawPointer
        if let mapped {
            (base, byteCount, origin) = (mapped.mapping.base, mapped.mapping.count, mapped.origin)
            data = UnsafeMutableRawPointer(mutating: mapped.mapping.data)
        } else if let mapping = AnonymousMemory.map(total, hugePages: true) {
            (base, byteCount, origin) = (mapping, total, .privateMemory(reason: reason))
            data = mapping
            packAll(mapping)
        } else {
            (base, byteCount, origin) = (nil, 0, .privateMemory(reason: "\(reason); no memory for a packed copy: ggml layout used"))
            return
        }
        for (i, offset) in offsets.enumerated() {
            guard let offset else { continue }
            matrices[i].packed = UnsafeRawPointer(data + offset)
            matrices[i].packedType = targets[i]
            // The spot check of a mapped file read a few pages; packing gave the rest back.
            Self.releasePages(matrices[i].data, count: matrices[i].rowBytes * matrices[i].rows)
        }
    }

    /// Packs every matrix with an offset into `out` (the start of the packed data), giving
    /// back each matrix's pages of the model file once it is packed.
    private static func pack(_ matrices: [WeightMatrix], targets: [ck_type?], offsets: [Int?], into out: UnsafeMutableRawPointer, pool: ThreadPool) {
        for (i, m) in matrices.enumerated() {
            guard let offset = offsets[i] else { continue }
            let target = targets[i]
            let panels = (m.rows + Int(CK_PANEL_ROWS) - 1) / Int(CK_PANEL_ROWS)
            // Panel ranges split as the matrix multiplies split rows (largest first, shrinking).
            let ranges = MatMul.guidedRanges(rows: panels, granule: 1, threads: pool.threadCount)
            let type = m.type.ckType, data = m.data, rows = Int64(m.rows), cols = Int64(m.cols)
            let destination = out + offset
            pool.parallelFor(ranges.count) { task in
                let (begin, end) = ranges[task]
                Self.packPanels(type, data, rows, cols, begin, end, destination, as: target)
            }
            // Matrix by matrix, so that the process never holds both whole copies.
            releasePages(m.data, count: m.rowBytes * m.rows)
        }
    }

    /// Maps the requested file if it matches; else builds it when allowed. The file's header
    /// is checked by `PackedWeightsFile`; its data by repacking three panels of every matrix
    /// from the model and comparing (a few hundred KB: catches a file whose header lies, or a
    /// layout change nobody versioned).
    private static func mapFile(
        _ request: FileRequest, matrices: [WeightMatrix], targets: [ck_type?], offsets: [Int?], total: Int,
        pack: (UnsafeMutableRawPointer) -> Void
    ) -> Result<(mapping: PackedWeightsFile.Mapping, origin: PackedWeightsOrigin), PackedWeightsFile.Rejected> {
        let entries = matrices.indices.compactMap { i in
            let m = matrices[i]
            return offsets[i].map {
                PackedWeightsFile.Entry(type: m.type, packedType: targets[i]?.rawValue ?? 0, rows: m.rows, cols: m.cols,
                                        offset: $0, bytes: m.packedBytes(as: targets[i]))
            }
        }
        guard !request.contentHash.isEmpty,
              let file = PackedWeightsFile(contentHash: request.contentHash, kernel: String(cString: ck_kernel_name()),
                                           entries: entries, dataBytes: total)
        else {
            return .failure(.init(description: "the model has no usable content hash to key a packed-weights file"))
        }
        var rejection: PackedWeightsFile.Rejected
        do throws(PackedWeightsFile.Rejected) {
            let mapping = try file.map(at: request.path, verifyData: request.verifyData)
            if let bad = spotCheck(matrices, targets: targets, offsets: offsets, data: mapping.data) {
                munmap(mapping.base, mapping.count)
                throw PackedWeightsFile.Rejected(description: "\(request.path) does not match this model: \(bad)")
            }
            return .success((mapping, .mappedFile(path: request.path)))
        } catch {
            rejection = error
        }
        guard request.mayWrite else { return .failure(rejection) }
        do throws(PackedWeightsFile.Rejected) {
            let (mapping, built) = try file.build(at: request.path, pack: pack)
            if let bad = spotCheck(matrices, targets: targets, offsets: offsets, data: mapping.data) {
                munmap(mapping.base, mapping.count)
                return .failure(.init(description: "\(request.path) does not match this model after building: \(bad)"))
            }
            guard built else { return .success((mapping, .mappedFile(path: request.path))) }
            return .success((mapping, .builtFile(path: request.path, replaced: rejection.missing ? "it was missing" : rejection.description)))
        } catch {
            return .failure(.init(description: "\(rejection.description); not rebuilt: \(error.description)"))
        }
    }

    /// Repacks the first, middle and last panel of every matrix and compares them with the
    /// packed data; names the first matrix that differs.
    private static func spotCheck(_ matrices: [WeightMatrix], targets: [ck_type?], offsets: [Int?], data: UnsafeRawPointer) -> String? {
        let panelRows = Int(CK_PANEL_ROWS)
        for (index, m) in matrices.enumerated() {
            guard let offset = offsets[index] else { continue }
            let panels = (m.rows + panelRows - 1) / panelRows
            let panelBytes = ck_packed_size(targets[index] ?? m.type.ckType, Int64(panelRows), Int64(m.cols))
            var scratch = [UInt8](repeating: 0, count: panelBytes)
            for p in Set([0, panels / 2, panels - 1]) {
                let rows = min(panelRows, m.rows - p * panelRows)
                let same = scratch.withUnsafeMutableBytes { buffer -> Bool in
                    guard let out = buffer.baseAddress else { return false }
                    packPanels(m.type.ckType, m.data + p * panelRows * m.rowBytes, Int64(rows), Int64(m.cols), 0, 1, out, as: targets[index])
                    return memcmp(out, data + offset + p * panelBytes, panelBytes) == 0
                }
                if !same { return "matrix \(index) (\(m.rows)x\(m.cols) \(m.type)), panel \(p) differs" }
            }
        }
        return nil
    }

    /// Packs panels `begin..<end` of `W` into `out` as stored, or requantized into `target`
    /// (CK_TYPE_Q8_R).
    private static func packPanels(_ type: ck_type, _ W: UnsafeRawPointer, _ rows: Int64, _ cols: Int64,
                                   _ begin: Int, _ end: Int, _ out: UnsafeMutableRawPointer, as target: ck_type?) {
        if target == CK_TYPE_Q8_R {
            ck_pack_weights_q8r(type, W, rows, cols, Int64(begin), Int64(end), out)
        } else {
            ck_pack_weights(type, W, rows, cols, Int64(begin), Int64(end), out)
        }
    }

    deinit {
        if let base { munmap(base, byteCount) }
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
