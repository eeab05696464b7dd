import CKernels

/// All weights of the model, viewed in place in the memory-mapped GGUF file, and (after
/// `packing(on:)`) the Q8_0/Q4_0 matrices repacked into the kernels' layout.
///
/// Loading checks every tensor's presence, type and shape against the hyperparameters,
/// so the forward pass can index without further checks.
final class ModelWeights: @unchecked Sendable {
    struct Layer {
        var attentionNorm: [Float]
        var query: WeightMatrix
        var key: WeightMatrix
        var value: WeightMatrix
        var output: WeightMatrix
        var feedForwardNorm: [Float]
        var gate: WeightMatrix
        var up: WeightMatrix
        var down: WeightMatrix
    }

    let file: GGUFFile
    let embedding: WeightMatrix
    let layers: [Layer]
    let outputNorm: [Float]
    let classifier: WeightMatrix
    /// Owner of the packed copies the matrices point to (nil when not packed).
    let packed: PackedWeights?

    /// Views the weights in place in the file (ggml layout) after checking them all; see
    /// `packing(on:)` for the kernels' layout.
    init(file: GGUFFile, config: ModelConfig) throws(ModelFileError) {
        self.file = file
        func matrix(_ name: String, rows: Int, cols: Int) throws(ModelFileError) -> WeightMatrix {
            guard let info = file.tensor(name) else { throw .missingTensor(name) }
            guard info.dimensions == [cols, rows] else {
                throw .shapeMismatch(tensor: name, expected: [cols, rows], found: info.dimensions)
            }
            return WeightMatrix(type: info.type, data: file.data(info), rows: rows, cols: cols)
        }
        func vector(_ name: String, count: Int) throws(ModelFileError) -> [Float] {
            guard let info = file.tensor(name) else { throw .missingTensor(name) }
            guard info.dimensions == [count] else {
                throw .shapeMismatch(tensor: name, expected: [count], found: info.dimensions)
            }
            guard info.type.blockSize == 1 || count % info.type.blockSize == 0 else {
                throw .unsupportedTensorType(tensor: name, type: info.type.description)
            }
            var out = [Float](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { buffer in
                ck_dequantize_row(info.type.ckType, file.data(info), buffer.baseAddress, Int64(count))
            }
            return out
        }
        let h = config.hiddenSize
        embedding = try matrix(GGUFNames.tokenEmbedding, rows: config.vocabSize, cols: h)
        var layers: [Layer] = []
        for l in 0 ..< config.layerCount {
            layers.append(Layer(
                attentionNorm: try vector(GGUFNames.block(l, "attn_norm"), count: h),
                query: try matrix(GGUFNames.block(l, "attn_q"), rows: config.qDim, cols: h),
                key: try matrix(GGUFNames.block(l, "attn_k"), rows: config.kvDim, cols: h),
                value: try matrix(GGUFNames.block(l, "attn_v"), rows: config.kvDim, cols: h),
                output: try matrix(GGUFNames.block(l, "attn_output"), rows: h, cols: config.qDim),
                feedForwardNorm: try vector(GGUFNames.block(l, "ffn_norm"), count: h),
                gate: try matrix(GGUFNames.block(l, "ffn_gate"), rows: config.intermediateSize, cols: h),
                up: try matrix(GGUFNames.block(l, "ffn_up"), rows: config.intermediateSize, cols: h),
                down: try matrix(GGUFNames.block(l, "ffn_down"), rows: h, cols: config.intermediateSize)
            ))
        }
        outputNorm = try vector(GGUFNames.outputNorm, count: h)
        let classifier = try matrix(GGUFNames.classifier, rows: config.labelCount, cols: h)
        if config.ropeScaling != nil {
            // Written for llama.cpp; we recompute the factors from metadata in Double, but a
            // file whose factors disagree with its metadata is inconsistent.
            let factors = try vector(GGUFNames.ropeFrequencies, count: config.headDim / 2)
            for (stored, expected) in zip(factors, config.ropeFrequencyFactors())
            where abs(stored - expected) > 1e-4 * max(1, abs(expected)) {
                throw .invalidMetadata(key: GGUFNames.ropeFrequencies, detail: "rope factors disagree with the rope scaling metadata")
            }
        }
        packed = nil
        self.layers = layers
        self.classifier = classifier
    }

    private init(file: GGUFFile, embedding: WeightMatrix, layers: [Layer], outputNorm: [Float],
                 classifier: WeightMatrix, packed: PackedWeights) {
        self.file = file
        self.embedding = embedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.classifier = classifier
        self.packed = packed
    }

    /// The same weights with every Q8_0/Q4_0 matrix repacked into the kernels' layout on
    /// `pool`, or mapped from `packedFile` (`PackedWeights`: the model file's
    /// pages of each packed matrix are given back). Called last at load, once the file has
    /// passed every check.
    /// `format` may requantize the layer matrices (`WeightFormat`); the classifier head stays as stored.
    func packing(on pool: ThreadPool, format: WeightFormat = .stored, packedFile: PackedWeights.FileRequest? = nil) -> ModelWeights {
        var all = layers.flatMap { [$0.query, $0.key, $0.value, $0.output, $0.gate, $0.up, $0.down] } + [classifier]
        let targets = all.dropLast().map { format.packedType(for: $0.type, cols: $0.cols) }
        let owner = PackedWeights(packing: &all, targets: targets, pool: pool, file: packedFile)
        var packedLayers = layers
        for l in packedLayers.indices {
            let m = Array(all[(7 * l) ..< (7 * l + 7)])
            (packedLayers[l].query, packedLayers[l].key, packedLayers[l].value, packedLayers[l].output) = (m[0], m[1], m[2], m[3])
            (packedLayers[l].gate, packedLayers[l].up, packedLayers[l].down) = (m[4], m[5], m[6])
        }
        return ModelWeights(file: file, embedding: embedding, layers: packedLayers, outputNorm: outputNorm,
                            classifier: all[all.count - 1], packed: owner)
    }

    /// All matrices, for sizing scratch buffers.
    var matrices: [WeightMatrix] {
        layers.flatMap { [$0.query, $0.key, $0.value, $0.output, $0.gate, $0.up, $0.down] } + [classifier]
    }
}
