import CKernels

/// Multiplies activations by weight matrices through the CKernels contract:
/// `ck_prepare_activations` once per input (Q8_0 blocks for quantized weights, as ggml
/// does), then `ck_matmul_packed` (weights repacked at load) or `ck_matmul` over row ranges
/// spread across the thread pool.
///
/// Row ranges are multiples of `rowGranule` (the kernels' 16-row panel) so that no panel is
/// computed by two threads. The scratch buffer for prepared activations is sized once for
/// the batch token budget; `multiply` never allocates large memory.
final class MatMul: @unchecked Sendable {
    let pool: ThreadPool
    /// Rows per range are a multiple of this (except the last range).
    var rowGranule = Int(CK_PANEL_ROWS)
    private let scratch: UnsafeMutableRawPointer
    private let scratchBytes: Int

    /// - Parameters:
    ///   - maxTokens: the most activation rows ever multiplied at once.
    ///   - shapes: every (kernel type, row length) this instance will see (`WeightMatrix.kernelType`).
    init(pool: ThreadPool, maxTokens: Int, shapes: [(ck_type, Int)]) {
        self.pool = pool
        var bytes = 64
        for (type, k) in shapes {
            bytes = max(bytes, ck_activations_size(type, Int64(k), Int64(maxTokens)))
        }
        scratchBytes = bytes
        scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    deinit { scratch.deallocate() }

    /// One row range of one weight matrix.
    private struct Task {
        var weight: Int
        var begin: Int
        var end: Int
    }

    /// `outputs[i][t * ldy + r] = sum_c weights[i][r, c] * input[t * ldx + c]` for every token t.
    ///
    /// All weights take the same input (length `weights[i].cols`), prepared once per type.
    /// Consecutive weights that share a preparation run as one parallel job (the rows of all
    /// of them in one task list: one join instead of one per matrix).
    ///
    /// - Parameter prepared: the activations are already in the scratch buffer, written by
    ///   `prepareRows` for all `tokens` with this preparation (the producer of `input` did it
    ///   in its own job); it must be `preparation(of: weights)`.
    func multiply(
        _ weights: [WeightMatrix],
        input: UnsafePointer<Float>, ldx: Int, tokens: Int,
        outputs: [UnsafeMutablePointer<Float>], ldy: [Int], prepared: Preparation? = nil
    ) {
        guard tokens > 0 else { return }
        if let prepared {
            precondition(prepared == preparation(of: weights), "activations prepared for other weights")
            precondition(ck_activations_size(prepared.type, Int64(prepared.k), Int64(tokens)) <= scratchBytes,
                         "MatMul scratch sized for fewer tokens than requested")
            run(weights, tokens: tokens, outputs: outputs, ldy: ldy)
            return
        }
        var start = 0
        while start < weights.count {
            let type = weights[start].kernelType, k = weights[start].cols
            var end = start + 1
            while end < weights.count, weights[end].kernelType == type, weights[end].cols == k { end += 1 }
            let needed = ck_activations_size(type, Int64(k), Int64(tokens))
            precondition(needed <= scratchBytes, "MatMul scratch sized for fewer tokens than requested")
            prepare(type, input: input, ldx: ldx, k: k, tokens: tokens)
            run(Array(weights[start ..< end]), tokens: tokens, outputs: Array(outputs[start ..< end]), ldy: Array(ldy[start ..< end]))
            start = end
        }
    }

    /// The activation preparation a multiply by `weights` needs: one kernel type and row
    /// length (`nil` when they differ, so one preparation cannot serve them all).
    struct Preparation: Equatable {
        var type: ck_type
        var k: Int
    }

    func preparation(of weights: [WeightMatrix]) -> Preparation? {
        guard let first = weights.first else { return nil }
        let p = Preparation(type: first.kernelType, k: first.cols)
        return weights.allSatisfy({ $0.kernelType == p.type && $0.cols == p.k }) ? p : nil
    }

    /// Prepares tokens [begin, end) of `input` into the scratch buffer, for a later
    /// `multiply(..., prepared:)`. Called by the job that produced those rows (RMSNorm,
    /// SwiGLU) right after writing them: they are quantized while still in L1/L2, and the
    /// separate preparation job and its join disappear (three per layer). Tasks of one job
    /// may call it for disjoint token ranges concurrently (as `prepare` does).
    func prepareRows(_ p: Preparation, input: UnsafePointer<Float>, ldx: Int, begin: Int, end: Int) {
        guard begin < end else { return }
        precondition(ck_activations_size(p.type, Int64(p.k), Int64(end)) <= scratchBytes,
                     "MatMul scratch sized for fewer tokens than requested")
        ck_prepare_activations_at(p.type, input + begin * ldx, Int64(ldx), Int64(p.k), Int64(begin), Int64(end - begin), scratch)
    }

    /// Quantizes the activations on every thread of the pool (token ranges; each token's
    /// blocks are contiguous in the prepared layout). Done on the caller alone it left the
    /// other core idle for ~3% of a forward pass (11 ms for 512 x 8192 at Q8_0).
    private func prepare(_ ck: ck_type, input: UnsafePointer<Float>, ldx: Int, k: Int, tokens: Int) {
        let tasks = tokens < 16 || pool.threadCount == 1 ? 1 : pool.threadCount * 2
        let per = (tokens + tasks - 1) / tasks
        let out = scratch
        pool.parallelFor(tasks) { task in
            let begin = task * per
            let end = min(tokens, begin + per)
            guard begin < end else { return }
            ck_prepare_activations_at(ck, input + begin * ldx, Int64(ldx), Int64(k), Int64(begin), Int64(end - begin), out)
        }
    }

    /// Convenience for one weight with a tightly packed output (`ldy = rows`).
    func multiply(_ w: WeightMatrix, input: UnsafePointer<Float>, ldx: Int, tokens: Int, output: UnsafeMutablePointer<Float>) {
        multiply([w], input: input, ldx: ldx, tokens: tokens, outputs: [output], ldy: [w.rows])
    }

    /// Row ranges of decreasing size ("guided" scheduling), claimed dynamically: big ranges
    /// first for little overhead, small ones last so that both threads finish together — a
    /// fixed four ranges per thread left one thread idle for half a range at every join on
    /// average (~5% of wall time), and a thread the OS schedules late (the machine is shared)
    /// leaves its work to the others instead of stalling the join.
    static func guidedRanges(rows: Int, granule: Int, threads: Int) -> [(Int, Int)] {
        let granules = (rows + granule - 1) / granule
        guard threads > 1, granules > 1 else { return [(0, rows)] }
        var ranges: [(Int, Int)] = []
        var next = 0
        while next < granules {
            let size = max(1, (granules - next + 2 * threads - 1) / (2 * threads))
            let end = min(granules, next + size)
            ranges.append((next * granule, min(rows, end * granule)))
            next = end
        }
        return ranges
    }

    private func run(_ weights: [WeightMatrix], tokens: Int, outputs: [UnsafeMutablePointer<Float>], ldy: [Int]) {
        var tasks: [Task] = []
        for (i, w) in weights.enumerated() {
            for (begin, end) in Self.guidedRanges(rows: w.rows, granule: rowGranule, threads: pool.threadCount) {
                tasks.append(Task(weight: i, begin: begin, end: end))
            }
        }
        // Largest first across matrices too, so the small tail ranges of all of them come last.
        tasks.sort { $0.end - $0.begin > $1.end - $1.begin }
        let prepared = UnsafeRawPointer(scratch)
        tasks.withUnsafeBufferPointer { list in
            pool.parallelFor(list.count) { index in
                let task = list[index]
                let w = weights[task.weight]
                if let packed = w.packed {
                    ck_matmul_packed(w.kernelType, packed, Int64(w.cols), prepared, Int64(tokens),
                                     outputs[task.weight], Int64(ldy[task.weight]), Int64(task.begin), Int64(task.end))
                } else {
                    ck_matmul(w.type.ckType, w.data, Int64(w.cols), prepared, Int64(tokens),
                              outputs[task.weight], Int64(ldy[task.weight]), Int64(task.begin), Int64(task.end))
                }
            }
        }
    }
}
