import CKernels
import Foundation

/// Options of `ModelConverter.convert`.
public struct ConversionOptions: Sendable {
    /// Type of the matrices and of the embedding table (norms, rope factors and the 12-row
    /// head stay f32: they are tiny and the head's precision shows directly in the logits).
    public var type: TensorType = .q8_0
    /// `tokenizer.json` to embed; `nil` takes the one in the model directory.
    public var tokenizerPath: String?
    /// Default truncation stored in the file (the reference's 512).
    public var maxTokens: Int = ModelConfig.referenceMaxTokens
    /// Default decision threshold stored in the file (the model card's 0.5).
    public var threshold: Float = ModelConfig.referenceThreshold

    public init(
        type: TensorType = .q8_0, tokenizerPath: String? = nil, maxTokens: Int = ModelConfig.referenceMaxTokens,
        threshold: Float = ModelConfig.referenceThreshold
    ) {
        self.type = type
        self.tokenizerPath = tokenizerPath
        self.maxTokens = maxTokens
        self.threshold = threshold
    }
}

/// What a conversion wrote.
public struct ConversionSummary: Sendable {
    public var tensorCount: Int
    public var contentHash: String
    public var fileSize: Int
}

/// Converts a Hugging Face DuoGuard directory into one self-contained GGUF file.
///
/// Q and K projection rows are permuted per head the way llama.cpp's converter does, so
/// that rotating adjacent pairs (x[2i], x[2i+1]) equals Hugging Face's rotate-half RoPE;
/// the forward pass relies on it, and parity with `transformers` proves it.
public enum ModelConverter {
    /// The largest tokenizer.json embedded (the Llama-3 one is 9 MB; the largest published
    /// ones are a few tens of MB).
    public static let maxTokenizerBytes = 256 << 20

    public static func convert(
        directory: HuggingFaceModelDirectory,
        to output: String,
        options: ConversionOptions = ConversionOptions(),
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws(ModelFileError) -> ConversionSummary {
        let config = directory.config
        let type = options.type
        guard type != .bf16 else { throw .unsupportedTensorType(tensor: "(output)", type: "BF16 is not a conversion target") }
        // The loader checks these (ModelConfig.validate); never write a file it would refuse.
        guard options.threshold > 0, options.threshold < 1 else {
            throw .invalidMetadata(key: GGUFNames.threshold, detail: "must be strictly between 0 and 1, got \(options.threshold)")
        }
        guard options.maxTokens >= 1, options.maxTokens <= ModelConfig.Limits.positions else {
            throw .invalidMetadata(key: GGUFNames.maxTokens, detail: "must be in 1...\(ModelConfig.Limits.positions), got \(options.maxTokens)")
        }
        for (what, k) in [("hidden_size", config.hiddenSize), ("intermediate_size", config.intermediateSize),
                          ("num_attention_heads * head_dim", config.qDim)] where k % type.blockSize != 0 {
            throw .badConfig(path: directory.path, detail: "\(what) = \(k) is not a multiple of \(type.blockSize), required by \(type)")
        }
        let tokenizerPath = options.tokenizerPath ?? directory.tokenizerPath
        guard FileManager.default.fileExists(atPath: tokenizerPath) else { throw .fileNotFound(path: tokenizerPath) }
        // Mapped, not read: it is copied once into the output's metadata.
        let tokenizerData: Data
        do {
            tokenizerData = try Data(contentsOf: URL(fileURLWithPath: tokenizerPath), options: .alwaysMapped)
        } catch {
            throw .unreadable(path: tokenizerPath, reason: "\(error)")
        }
        guard tokenizerData.count <= Self.maxTokenizerBytes else {
            throw .corrupt(path: tokenizerPath, detail: "\(tokenizerData.count) bytes; a tokenizer.json above \(Self.maxTokenizerBytes) is not plausible")
        }

        // Tensor plan: (gguf name, ggml dims, type, producer of f32 rows).
        typealias Producer = () throws(ModelFileError) -> [Float]
        var plan: [(GGUFWriter.Tensor, Producer)] = []
        // Every source tensor with the shape the config implies: checked before anything is
        // sized by the config (the llama.cpp vocabulary has vocab_size entries), so a config
        // that disagrees with its weights costs nothing.
        var sources: [(name: String, shape: [Int])] = []
        let h = config.hiddenSize
        func matrix(_ gguf: String, _ hf: String, rows: Int, cols: Int, permuteHeads: Int? = nil, as t: TensorType) {
            sources.append((hf, [rows, cols]))
            let producer: Producer = { () throws(ModelFileError) -> [Float] in
                let w = try directory.floats(hf, shape: [rows, cols])
                guard let heads = permuteHeads else { return w }
                return permuteForAdjacentRope(w, rows: rows, cols: cols, heads: heads)
            }
            plan.append((GGUFWriter.Tensor(name: gguf, dimensions: [cols, rows], type: t), producer))
        }
        func vector(_ gguf: String, _ hf: String, count: Int) {
            sources.append((hf, [count]))
            plan.append((GGUFWriter.Tensor(name: gguf, dimensions: [count], type: .f32),
                         { () throws(ModelFileError) -> [Float] in try directory.floats(hf, shape: [count]) }))
        }
        matrix(GGUFNames.tokenEmbedding, "model.embed_tokens.weight", rows: config.vocabSize, cols: h, as: type)
        if config.ropeScaling != nil {
            let factors = config.ropeFrequencyFactors()
            plan.append((GGUFWriter.Tensor(name: GGUFNames.ropeFrequencies, dimensions: [factors.count], type: .f32), { factors }))
        }
        for l in 0 ..< config.layerCount {
            let p = "model.layers.\(l)."
            vector(GGUFNames.block(l, "attn_norm"), p + "input_layernorm.weight", count: h)
            matrix(GGUFNames.block(l, "attn_q"), p + "self_attn.q_proj.weight", rows: config.qDim, cols: h,
                   permuteHeads: config.headCount, as: type)
            matrix(GGUFNames.block(l, "attn_k"), p + "self_attn.k_proj.weight", rows: config.kvDim, cols: h,
                   permuteHeads: config.kvHeadCount, as: type)
            matrix(GGUFNames.block(l, "attn_v"), p + "self_attn.v_proj.weight", rows: config.kvDim, cols: h, as: type)
            matrix(GGUFNames.block(l, "attn_output"), p + "self_attn.o_proj.weight", rows: h, cols: config.qDim, as: type)
            vector(GGUFNames.block(l, "ffn_norm"), p + "post_attention_layernorm.weight", count: h)
            matrix(GGUFNames.block(l, "ffn_gate"), p + "mlp.gate_proj.weight", rows: config.intermediateSize, cols: h, as: type)
            matrix(GGUFNames.block(l, "ffn_up"), p + "mlp.up_proj.weight", rows: config.intermediateSize, cols: h, as: type)
            matrix(GGUFNames.block(l, "ffn_down"), p + "mlp.down_proj.weight", rows: h, cols: config.intermediateSize, as: type)
        }
        vector(GGUFNames.outputNorm, "model.norm.weight", count: h)
        matrix(GGUFNames.classifier, "score.weight", rows: config.labelCount, cols: h, as: .f32)

        for (name, shape) in sources {
            guard let found = directory.shape(name) else { throw .missingTensor(name) }
            guard found == shape else { throw .shapeMismatch(tensor: name, expected: shape, found: found) }
        }

        var writer = GGUFWriter()
        writer.contentHashKey = GGUFNames.contentHash
        try addMetadata(to: &writer, config: config, options: options, name: directory.name,
                        tokenizer: tokenizerData, tokenizerPath: tokenizerPath)
        writer.tensors = plan.map(\.0)
        let hash = try writer.write(to: output, produce: { (i: Int) throws(ModelFileError) -> [UInt8] in
            let tensor = plan[i].0
            let values = try plan[i].1()
            return encode(values, rowLength: tensor.dimensions[0], as: tensor.type)
        }, progress: progress)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        return ConversionSummary(tensorCount: plan.count, contentHash: hash, fileSize: size)
    }

    /// Reorders each head's rows from [first half; second half] to interleaved pairs:
    /// new row 2i = old row i, new row 2i+1 = old row i + d/2 (d = rows per head).
    static func permuteForAdjacentRope(_ w: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
        let d = rows / heads
        var out = [Float](repeating: 0, count: w.count)
        for head in 0 ..< heads {
            for i in 0 ..< d / 2 {
                for j in 0 ..< 2 {
                    let newRow = head * d + 2 * i + j
                    let oldRow = head * d + j * (d / 2) + i
                    for c in 0 ..< cols { out[newRow * cols + c] = w[oldRow * cols + c] }
                }
            }
        }
        return out
    }

    /// Encodes f32 rows of `rowLength` into `type`, bit-compatible with ggml.
    static func encode(_ values: [Float], rowLength: Int, as type: TensorType) -> [UInt8] {
        let rows = values.count / rowLength
        let rowBytes = type.rowSize(rowLength)
        var out = [UInt8](repeating: 0, count: rows * rowBytes)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for r in 0 ..< rows {
                    let x = s + r * rowLength
                    let y = d + r * rowBytes
                    switch type {
                    case .f32:
                        y.copyMemory(from: x, byteCount: rowBytes)
                    case .f16:
                        let h = y.assumingMemoryBound(to: UInt16.self)
                        for i in 0 ..< rowLength { h[i] = ck_fp32_to_fp16(x[i]) }
                    case .bf16:
                        let h = y.assumingMemoryBound(to: UInt16.self)
                        for i in 0 ..< rowLength { h[i] = bf16RoundedBits(x[i]) }
                    case .q8_0:
                        ck_quantize_row_q8_0(x, y.assumingMemoryBound(to: ck_block_q8_0.self), Int64(rowLength))
                    case .q4_0:
                        ck_quantize_row_q4_0(x, y.assumingMemoryBound(to: ck_block_q4_0.self), Int64(rowLength))
                    }
                }
            }
        }
        return out
    }

    private static func bf16RoundedBits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x40 }
        return UInt16((bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
    }

    private static func addMetadata(
        to writer: inout GGUFWriter, config: ModelConfig, options: ConversionOptions,
        name: String, tokenizer: Data, tokenizerPath: String
    ) throws(ModelFileError) {
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(clamping: v)) }
        writer.add(GGUFNames.architecture, .string("llama"))
        writer.add(GGUFNames.name, .string(name))
        writer.add(GGUFNames.fileType, .uint32(options.type.llamaFileType))
        writer.add(GGUFNames.quantizationVersion, .uint32(2))
        writer.add(GGUFNames.alignment, .uint32(UInt32(writer.alignment)))
        writer.add(GGUFNames.contextLength, u32(config.contextLength))
        writer.add(GGUFNames.embeddingLength, u32(config.hiddenSize))
        writer.add(GGUFNames.blockCount, u32(config.layerCount))
        writer.add(GGUFNames.feedForwardLength, u32(config.intermediateSize))
        writer.add(GGUFNames.headCount, u32(config.headCount))
        writer.add(GGUFNames.headCountKV, u32(config.kvHeadCount))
        writer.add(GGUFNames.keyLength, u32(config.headDim))
        writer.add(GGUFNames.valueLength, u32(config.headDim))
        writer.add(GGUFNames.rmsEpsilon, .float32(config.rmsNormEps))
        writer.add(GGUFNames.ropeFreqBase, .float32(Float(config.ropeTheta)))
        writer.add(GGUFNames.ropeDimensionCount, u32(config.headDim))
        writer.add(GGUFNames.vocabSize, u32(config.vocabSize))

        writer.add(GGUFNames.formatVersion, .uint32(1))
        writer.add(GGUFNames.categories, .array(elementType: 8, config.categoryNames.map { .string($0) }))
        writer.add(GGUFNames.labelCount, u32(config.labelCount))
        writer.add(GGUFNames.padTokenID, u32(Int(config.padTokenID)))
        writer.add(GGUFNames.maxTokens, u32(options.maxTokens))
        writer.add(GGUFNames.threshold, .float32(options.threshold))
        if let s = config.ropeScaling {
            writer.add(GGUFNames.ropeScalingType, .string(s.type))
            writer.add(GGUFNames.ropeScalingFactor, .float32(Float(s.factor)))
            writer.add(GGUFNames.ropeLowFreqFactor, .float32(Float(s.lowFreqFactor)))
            writer.add(GGUFNames.ropeHighFreqFactor, .float32(Float(s.highFreqFactor)))
            writer.add(GGUFNames.ropeOriginalContext, u32(s.originalContextLength))
        } else {
            writer.add(GGUFNames.ropeScalingType, .string("none"))
        }
        writer.add(GGUFNames.sourceModel, .string(name))
        writer.add(GGUFNames.contentHash, .string(GGUFWriter.hashPlaceholder))

        // The tokenizer, twice: verbatim for our Tokenizer, and as llama.cpp's keys.
        let text = String(decoding: tokenizer, as: UTF8.self)
        writer.add(GGUFNames.tokenizerJSON, .string(text))
        let vocab = try LlamaCppVocabulary(tokenizerJSON: tokenizer, path: tokenizerPath, vocabSize: config.vocabSize)
        writer.add(GGUFNames.tokenizerModel, .string("gpt2"))
        writer.add(GGUFNames.tokenizerPre, .string("llama-bpe"))
        writer.add(GGUFNames.tokens, .array(elementType: 8, vocab.tokens.map { .string($0) }))
        writer.add(GGUFNames.tokenTypes, .array(elementType: 5, vocab.types.map { .int32($0) }))
        writer.add(GGUFNames.merges, .array(elementType: 8, vocab.merges.map { .string($0) }))
        if let bos = config.bosTokenID { writer.add(GGUFNames.bosID, u32(Int(bos))) }
        if let eos = config.eosTokenID { writer.add(GGUFNames.eosID, u32(Int(eos))) }
        writer.add(GGUFNames.padID, u32(Int(config.padTokenID)))
    }
}
