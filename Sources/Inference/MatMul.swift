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
    /// Row ranges per thread and multiply (dynamic load balancing).
    var tasksPerThread = 4
    private let scratch: UnsafeMutableRawPointer
    private let scratchBytes: Int

    /// - Parameters:
    ///   - maxTokens: the most activation rows ever multiplied at once.
    ///   - shapes: every (weight type, row length) this instance will see.
    init(pool: ThreadPool, maxTokens: Int, shapes: [(TensorType, Int)]) {
        self.pool = pool
        var bytes = 64
        for (type, k) in shapes {
            bytes = max(bytes, ck_activations_size(type.ckType, Int64(k), Int64(maxTokens)))
        }
        scratchBytes = bytes
        scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    deinit { scratch.deallocate() }

    /// `outputs[i][t * ldy + r] = sum_c weights[i][r, c] * input[t * ldx + c]` for every token t.
    ///
    /// All weights take the same input (length `weights[i].cols`), prepared once per type.
    func multiply(
        _ weights: [WeightMatrix],
        input: UnsafePointer<Float>, ldx: Int, tokens: Int,
        outputs: [UnsafeMutablePointer<Float>], ldy: [Int]
    ) {
        guard tokens > 0 else { return }
        var preparedType: TensorType?
        var preparedK = -1
        for (index, w) in weights.enumerated() {
            if preparedType != w.type || preparedK != w.cols {
                let needed = ck_activations_size(w.type.ckType, Int64(w.cols), Int64(tokens))
                precondition(needed <= scratchBytes, "MatMul scratch sized for fewer tokens than requested")
                prepare(w.type, input: input, ldx: ldx, k: w.cols, tokens: tokens)
                preparedType = w.type
                preparedK = w.cols
            }
            run(w, prepared: UnsafeRawPointer(scratch), tokens: tokens, output: outputs[index], ldy: ldy[index])
        }
    }

    /// Quantizes the activations on every thread of the pool (token ranges; each token's
    /// blocks are contiguous in the prepared layout). Done on the caller alone it left the
    /// other core idle for ~3% of a forward pass (11 ms for 512 x 8192 at Q8_0).
    private func prepare(_ type: TensorType, input: UnsafePointer<Float>, ldx: Int, k: Int, tokens: Int) {
        let ck = type.ckType
        let perToken = ck_activations_size(ck, Int64(k), 1)
        let tasks = tokens < 16 || pool.threadCount == 1 ? 1 : pool.threadCount * 2
        let per = (tokens + tasks - 1) / tasks
        let out = scratch
        pool.parallelFor(tasks) { task in
            let begin = task * per
            let end = min(tokens, begin + per)
            guard begin < end else { return }
            ck_prepare_activations(ck, input + begin * ldx, Int64(ldx), Int64(k), Int64(end - begin), out + begin * perToken)
        }
    }

    /// Convenience for one weight with a tightly packed output (`ldy = rows`).
    func multiply(_ w: WeightMatrix, input: UnsafePointer<Float>, ldx: Int, tokens: Int, output: UnsafeMutablePointer<Float>) {
        multiply([w], input: input, ldx: ldx, tokens: tokens, outputs: [output], ldy: [w.rows])
    }

    private func run(_ w: WeightMatrix, prepared: UnsafeRawPointer, tokens: Int, output: UnsafeMutablePointer<Float>, ldy: Int) {
        let granules = (w.rows + rowGranule - 1) / rowGranule
        // A few tasks per thread, claimed dynamically: a thread that the OS schedules late
        // (the machine is shared) leaves its work to the others instead of stalling the join.
        let tasks = min(pool.threadCount == 1 ? 1 : pool.threadCount * tasksPerThread, granules)
        let perTask = (granules + tasks - 1) / tasks * rowGranule
        let type = w.type.ckType
        let k = Int64(w.cols)
        let rows = w.rows
        let data = w.data
        let packed = w.packed
        pool.parallelFor(tasks) { task in
            let begin = task * perTask
            let end = min(rows, begin + perTask)
            guard begin < end else { return }
            if let packed {
                ck_matmul_packed(type, packed, k, prepared, Int64(tokens), output, Int64(ldy), Int64(begin), Int64(end))
            } else {
                ck_matmul(type, data, k, prepared, Int64(tokens), output, Int64(ldy), Int64(begin), Int64(end))
            }
        }
    }
}
