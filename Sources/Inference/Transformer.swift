import CKernels
import Foundation

/// The Llama forward pass of DuoGuard over a padding-free batch.
///
/// A batch is the concatenation of its sequences' tokens; every matrix multiply runs over
/// all tokens at once and attention runs per sequence (causal, grouped-query). The last
/// layer computes K and V for all tokens but queries, attention output and MLP only for
/// each sequence's pooled token; no language-model head exists.
///
/// Not reentrant: one forward pass at a time (it owns one `RunState`).
final class Transformer: @unchecked Sendable {
    let config: ModelConfig
    let weights: ModelWeights
    let matmul: MatMul
    let state: RunState
    let pool: ThreadPool
    /// cos/sin of position p and pair i at `p * headDim/2 + i`, for p < budget.
    private let ropeCos: [Float]
    private let ropeSin: [Float]

    init(config: ModelConfig, weights: ModelWeights, pool: ThreadPool, tokenBudget: Int) {
        self.config = config
        self.weights = weights
        self.pool = pool
        var shapes: [(ck_type, Int)] = []
        for w in weights.matrices { shapes.append((w.kernelType, w.cols)) }
        matmul = MatMul(pool: pool, maxTokens: tokenBudget, shapes: shapes)
        state = RunState(config: config, capacity: tokenBudget)
        let pairs = config.headDim / 2
        let inverse = config.ropeInverseFrequencies()
        var cosTable = [Float](repeating: 0, count: tokenBudget * pairs)
        var sinTable = [Float](repeating: 0, count: tokenBudget * pairs)
        for p in 0 ..< tokenBudget {
            for i in 0 ..< pairs {
                // The angle rounded to f32 first, as transformers computes it.
                let angle = Double(Float(p) * inverse[i])
                cosTable[p * pairs + i] = Float(cos(angle))
                sinTable[p * pairs + i] = Float(sin(angle))
            }
        }
        ropeCos = cosTable
        ropeSin = sinTable
    }

    /// Index of the token each sequence is classified on, as the reference pools: the
    /// rightmost token whose id is not the pad id, or 0 when there is none.
    static func poolingIndex(_ ids: [Int32], padTokenID: Int32) -> Int {
        ids.lastIndex(where: { $0 != padTokenID }) ?? 0
    }

    /// Logits (`labelCount` each) of every sequence. The caller guarantees: non-empty
    /// sequences, ids inside the vocabulary, total tokens within the budget.
    func forward(_ sequences: [[Int32]]) -> [[Float]] {
        let c = config
        let s = state
        let h = c.hiddenSize
        let count = sequences.count
        var offsets: [Int] = []
        var total = 0
        for seq in sequences {
            offsets.append(total)
            total += seq.count
        }
        precondition(total <= s.capacity && count <= s.capacity, "batch exceeds the token budget")
        let pooled = sequences.enumerated().map { offsets[$0.offset] + Transformer.poolingIndex($0.element, padTokenID: c.padTokenID) }
        let positions: [Int] = sequences.flatMap { Array(0 ..< $0.count) }

        // Embedding lookup: dequantize one row per token.
        let embedding = weights.embedding
        var t = 0
        for seq in sequences {
            for id in seq {
                ck_dequantize_row(embedding.type.ckType, embedding.data + Int(id) * embedding.rowBytes, s.x + t * h, Int64(h))
                t += 1
            }
        }

        let layers = weights.layers
        for (l, layer) in layers.enumerated() {
            let last = l == layers.count - 1
            // Later layers get their normed input from the previous layer's last residual add.
            if l == 0 { rmsNorm(s.x, into: s.xn, weight: layer.attentionNorm, rows: total) }
            let nextNorm = last ? weights.outputNorm : layers[l + 1].attentionNorm
            // Which activations this layer's first multiply finds prepared (by the previous
            // layer's last addAndNorm), and which ones this layer's last addAndNorm prepares.
            let inputs = attentionInputs(l)
            let prepared = l == 0 ? nil : matmul.preparation(of: inputs)
            let nextInputs = last ? nil : matmul.preparation(of: attentionInputs(l + 1))
            if !last {
                // Q, K and V in one job: one activation preparation, one join.
                matmul.multiply(inputs, input: s.xn, ldx: h, tokens: total,
                                outputs: [s.k, s.v, s.q], ldy: [c.kvDim, c.kvDim, c.qDim], prepared: prepared)
                applyRope([(s.k, c.kvHeadCount), (s.q, c.headCount)], positions: positions)
                attention(sequences: sequences, offsets: offsets, queryRows: nil)
                matmul.multiply(layer.output, input: s.attention, ldx: c.qDim, tokens: total, output: s.projected)
                let upInputs = matmul.preparation(of: [layer.gate, layer.up])
                addAndNorm(s.projected, weight: layer.feedForwardNorm, rows: total, prepare: upInputs)
                feedForward(layer, rows: total, prepared: upInputs)
                addAndNorm(s.projected, weight: nextNorm, rows: total, prepare: nextInputs)
            } else {
                matmul.multiply(inputs, input: s.xn, ldx: h, tokens: total,
                                outputs: [s.k, s.v], ldy: [c.kvDim, c.kvDim], prepared: prepared)
                applyRope([(s.k, c.kvHeadCount)], positions: positions)
                // Only the pooled tokens go on: compact their normed rows, then the residual.
                for (i, row) in pooled.enumerated() {
                    (s.projected + i * h).update(from: s.xn + row * h, count: h)
                }
                matmul.multiply(layer.query, input: s.projected, ldx: h, tokens: count, output: s.q)
                applyRope([(s.q, c.headCount)], positions: pooled.enumerated().map { $0.element - offsets[$0.offset] })
                attention(sequences: sequences, offsets: offsets, queryRows: pooled)
                matmul.multiply(layer.output, input: s.attention, ldx: c.qDim, tokens: count, output: s.projected)
                for (i, row) in pooled.enumerated() {
                    // row >= i, and rows of later sequences are > i: compaction in place is safe.
                    (s.x + i * h).update(from: s.x + row * h, count: h)
                }
                let upInputs = matmul.preparation(of: [layer.gate, layer.up])
                addAndNorm(s.projected, weight: layer.feedForwardNorm, rows: count, prepare: upInputs)
                feedForward(layer, rows: count, prepared: upInputs)
                addAndNorm(s.projected, weight: nextNorm, rows: count)
            }
        }
        matmul.multiply(weights.classifier, input: s.xn, ldx: h, tokens: count, output: s.logits)
        return (0 ..< count).map { i in Array(UnsafeBufferPointer(start: s.logits + i * c.labelCount, count: c.labelCount)) }
    }

    /// The matrices that take layer `l`'s normed input first: K, V and Q, or in the last
    /// layer (where only the pooled tokens query) K and V.
    private func attentionInputs(_ l: Int) -> [WeightMatrix] {
        let layer = weights.layers[l]
        return l == weights.layers.count - 1 ? [layer.key, layer.value] : [layer.key, layer.value, layer.query]
    }

    /// `state.projected` = SwiGLU MLP of `state.xn` (RMSNorm(x), made by the `addAndNorm`
    /// before it) over the first `rows` rows. `prepared`: that addAndNorm already prepared
    /// `state.xn` for gate and up. The SwiGLU job prepares its rows for `down` as it goes.
    private func feedForward(_ layer: ModelWeights.Layer, rows: Int, prepared: MatMul.Preparation?) {
        let s = state
        let c = config
        let mm = matmul
        mm.multiply([layer.gate, layer.up], input: s.xn, ldx: c.hiddenSize, tokens: rows,
                    outputs: [s.gate, s.up], ldy: [c.intermediateSize, c.intermediateSize], prepared: prepared)
        let width = c.intermediateSize
        let downInput = mm.preparation(of: [layer.down])
        parallelRows(rows) { begin, end in
            ck_swiglu(s.gate + begin * width, s.up + begin * width, Int64((end - begin) * width))
            if let downInput { mm.prepareRows(downInput, input: s.gate, ldx: width, begin: begin, end: end) }
        }
        mm.multiply([layer.down], input: s.gate, ldx: width, tokens: rows, outputs: [s.projected],
                    ldy: [layer.down.rows], prepared: downInput)
    }

    /// x += y, then xn = RMSNorm(x) with `weight`, over the first `rows` rows, in one pass
    /// on the pool: each row is normed while its sum is still in cache, and the add no
    /// longer runs on the caller alone between two joins (the other core idled through it).
    /// `prepare`: also quantize the normed rows for the next multiply (`MatMul.prepareRows`),
    /// in the same job, instead of a preparation pass and join of its own.
    private func addAndNorm(_ y: UnsafePointer<Float>, weight: [Float], rows: Int, prepare: MatMul.Preparation? = nil) {
        let h = config.hiddenSize
        let eps = config.rmsNormEps
        let x = state.x, xn = state.xn
        let mm = matmul
        weight.withUnsafeBufferPointer { w in
            let wp = w.baseAddress!
            parallelRows(rows) { begin, end in
                ck_add(x + begin * h, y + begin * h, Int64((end - begin) * h))
                for r in begin ..< end { ck_rmsnorm(x + r * h, wp, xn + r * h, Int64(h), eps) }
                if let prepare { mm.prepareRows(prepare, input: xn, ldx: h, begin: begin, end: end) }
            }
        }
    }

    /// Splits `rows` into a few contiguous ranges per thread and runs them on the pool.
    /// Used for the row-wise operations (norms, SwiGLU, RoPE): run on the caller alone they
    /// left the other core idle between matrix multiplies.
    private func parallelRows(_ rows: Int, _ body: (Int, Int) -> Void) {
        guard rows > 0 else { return }
        let tasks = min(rows, pool.threadCount == 1 ? 1 : pool.threadCount * 2)
        let per = (rows + tasks - 1) / tasks
        pool.parallelFor(tasks) { task in
            let begin = task * per
            let end = min(rows, begin + per)
            if begin < end { body(begin, end) }
        }
    }

    /// RMSNorm as transformers computes it in fp32: x * rsqrt(mean(x^2) + eps), times weight
    /// (`ck_rmsnorm`, rows spread over the pool).
    private func rmsNorm(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, weight: [Float], rows: Int) {
        let h = config.hiddenSize
        let eps = config.rmsNormEps
        weight.withUnsafeBufferPointer { w in
            let wp = w.baseAddress!
            parallelRows(rows) { begin, end in
                for r in begin ..< end { ck_rmsnorm(x + r * h, wp, y + r * h, Int64(h), eps) }
            }
        }
    }

    /// Rotates adjacent pairs (x[2i], x[2i+1]) of every head of every row, row r at
    /// position `positions[r]`. The converter permuted Q/K rows so this equals rotate-half.
    /// Every target (rows of `heads` heads each) in one job: K and Q share a join.
    private func applyRope(_ targets: [(x: UnsafeMutablePointer<Float>, heads: Int)], positions: [Int]) {
        let d = config.headDim
        let pairs = d / 2
        ropeCos.withUnsafeBufferPointer { cosTable in
            ropeSin.withUnsafeBufferPointer { sinTable in
                positions.withUnsafeBufferPointer { pos in
                    let cs = cosTable.baseAddress!, sn = sinTable.baseAddress!
                    parallelRows(pos.count) { begin, end in
                        for (x, heads) in targets {
                            for r in begin ..< end {
                                ck_rope(x + r * heads * d, Int64(heads), Int64(d), cs + pos[r] * pairs, sn + pos[r] * pairs)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Causal grouped-query attention within each sequence, writing `state.attention`.
    ///
    /// One task per (sequence, KV head), computed by `ck_attention` (AVX2): the head's keys
    /// are transposed once and the query heads of the group share every key load.
    ///
    /// - Parameter queryRows: `nil` = every token queries (row t of q is token t); otherwise
    ///   one query per sequence, row i of q being the token `queryRows[i]` of sequence i.
    private func attention(sequences: [[Int32]], offsets: [Int], queryRows: [Int]?) {
        let c = config
        let s = state
        let d = c.headDim
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(d).squareRoot()
        let qDim = c.qDim, kvDim = c.kvDim
        let lengths = sequences.map(\.count)
        let tasks = sequences.count * c.kvHeadCount
        pool.parallelFor(tasks) { task in
            let seq = task / c.kvHeadCount
            let kvHead = task % c.kvHeadCount
            let start = offsets[seq]
            let qRow: Int, queries: Int, firstPosition: Int
            if let rows = queryRows {
                (qRow, queries, firstPosition) = (seq, 1, rows[seq] - start)
            } else {
                (qRow, queries, firstPosition) = (start, lengths[seq], 0)
            }
            let keys = firstPosition + queries
            let bytes = ck_attention_scratch_size(Int64(keys), Int64(d), Int64(group))
            withUnsafeTemporaryAllocation(of: Float.self, capacity: (bytes + 3) / 4) { scratch in
                ck_attention(
                    s.q + qRow * qDim + kvHead * group * d, Int64(qDim), Int64(queries), Int64(firstPosition),
                    s.k + start * kvDim + kvHead * d, s.v + start * kvDim + kvHead * d, Int64(kvDim),
                    s.attention + qRow * qDim + kvHead * group * d, Int64(qDim),
                    Int64(d), Int64(group), scale, scratch.baseAddress!)
            }
        }
    }
}
