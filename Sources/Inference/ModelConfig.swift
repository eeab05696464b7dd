import Foundation

/// The hyperparameters of a DuoGuard (Llama sequence-classification) model.
///
/// Read from a Hugging Face `config.json` (transformers 4.x or 5.x layout) when converting,
/// and from GGUF metadata when loading. Defaults are the published
/// DuoGuard-1B-Llama-3.2-transfer values.
public struct ModelConfig: Sendable, Equatable {
    public var vocabSize: Int = 128_256
    public var hiddenSize: Int = 2048
    public var intermediateSize: Int = 8192
    public var layerCount: Int = 16
    public var headCount: Int = 32
    public var kvHeadCount: Int = 8
    public var headDim: Int = 64
    public var rmsNormEps: Float = 1e-5
    public var ropeTheta: Double = 500_000
    /// `nil` means plain RoPE.
    public var ropeScaling: RopeScaling? = RopeScaling()
    /// The base model's trained context (`max_position_embeddings`).
    public var contextLength: Int = 131_072
    /// Pooling skips this id (128001 = `<|end_of_text|>`, the pad token of the reference).
    public var padTokenID: Int32 = 128_001
    public var bosTokenID: Int32? = 128_000
    public var eosTokenID: Int32? = 128_001
    public var labelCount: Int = 12
    /// Inputs are truncated to this many tokens by default (the reference truncates at 512).
    public var maxTokens: Int = 512
    /// A text is unsafe when its largest probability exceeds this (default 0.5).
    public var threshold: Float = 0.5
    /// One name per label; the 12 DuoGuard categories by default.
    public var categoryNames: [String] = DuoGuardModel.categoryNames

    public init() {}

    var qDim: Int { headCount * headDim }
    var kvDim: Int { kvHeadCount * headDim }

    /// The rotary inverse frequency of each adjacent pair (head_dim / 2 values), scaled.
    ///
    /// Computed in Double and rounded once to Float, which is what `transformers` gets in fp32
    /// to within an ulp.
    func ropeInverseFrequencies() -> [Float] {
        (0 ..< headDim / 2).map { i in
            let base = 1 / pow(ropeTheta, Double(2 * i) / Double(headDim))
            let factor = ropeScaling?.frequencyFactor(inverseFrequency: base) ?? 1
            return Float(base / factor)
        }
    }

    /// The factors llama.cpp expects in `rope_freqs.weight` (1 for every pair without scaling).
    func ropeFrequencyFactors() -> [Float] {
        (0 ..< headDim / 2).map { i in
            let base = 1 / pow(ropeTheta, Double(2 * i) / Double(headDim))
            return Float(ropeScaling?.frequencyFactor(inverseFrequency: base) ?? 1)
        }
    }

    /// Checks the invariants the forward pass relies on.
    func validate(source: String) throws(ModelFileError) {
        func fail(_ detail: String) -> ModelFileError { .badConfig(path: source, detail: detail) }
        guard vocabSize > 0, hiddenSize > 0, intermediateSize > 0, layerCount > 0 else {
            throw fail("dimensions must be positive")
        }
        guard headCount > 0, kvHeadCount > 0, headCount % kvHeadCount == 0 else {
            throw fail("num_attention_heads (\(headCount)) must be a multiple of num_key_value_heads (\(kvHeadCount))")
        }
        guard headDim > 0, headDim % 2 == 0 else { throw fail("head_dim must be even, got \(headDim)") }
        guard labelCount > 0 else { throw fail("the model needs at least one label") }
        guard categoryNames.count == labelCount else {
            throw fail("\(categoryNames.count) category names for \(labelCount) labels")
        }
        guard padTokenID >= 0, Int(padTokenID) < vocabSize else {
            throw fail("pad_token_id \(padTokenID) outside the vocabulary (\(vocabSize))")
        }
        guard rmsNormEps > 0, ropeTheta > 0 else { throw fail("rms_norm_eps and rope_theta must be positive") }
        if let s = ropeScaling {
            guard s.type == "llama3" else { throw fail("unsupported rope scaling type \(s.type)") }
            guard s.factor > 0, s.highFreqFactor > s.lowFreqFactor, s.originalContextLength > 0 else {
                throw fail("invalid llama3 rope scaling parameters")
            }
        }
        guard maxTokens > 0 else { throw fail("max tokens must be positive") }
    }
}

extension ModelConfig {
    /// Parses a Hugging Face `config.json` of a `LlamaForSequenceClassification` model.
    ///
    /// Accepts both the transformers 4.x layout (`rope_theta` + `rope_scaling`, used by the
    /// published checkpoint) and the 5.x layout (`rope_parameters` holding `rope_theta`).
    public init(huggingFaceConfig data: Data, path: String) throws(ModelFileError) {
        func fail(_ detail: String) -> ModelFileError { .badConfig(path: path, detail: detail) }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw fail("not valid JSON")
        }
        guard let json = object as? [String: Any] else { throw fail("not a JSON object") }

        func int(_ key: String) -> Int? {
            if let n = json[key] as? NSNumber { return n.intValue }
            return nil
        }
        func required(_ key: String) throws(ModelFileError) -> Int {
            guard let value = int(key) else { throw fail("missing or non-integer \"\(key)\"") }
            return value
        }
        func tokenID(_ key: String) -> Int32? {
            if let n = int(key) { return Int32(truncatingIfNeeded: n) }
            if let list = json[key] as? [NSNumber], let first = list.first { return first.int32Value }
            return nil
        }

        let modelType = json["model_type"] as? String
        let architectures = json["architectures"] as? [String] ?? []
        guard modelType == "llama" else {
            throw .unsupportedArchitecture("model_type \(modelType ?? "missing") (expected llama)")
        }
        if !architectures.isEmpty, !architectures.contains("LlamaForSequenceClassification") {
            throw .unsupportedArchitecture(architectures.joined(separator: ", "))
        }
        if let act = json["hidden_act"] as? String, act != "silu" {
            throw .unsupportedArchitecture("hidden_act \(act) (expected silu)")
        }
        for flag in ["attention_bias", "mlp_bias"] where (json[flag] as? Bool) == true {
            throw .unsupportedArchitecture("\(flag) = true")
        }

        var config = ModelConfig()
        config.vocabSize = try required("vocab_size")
        config.hiddenSize = try required("hidden_size")
        config.intermediateSize = try required("intermediate_size")
        config.layerCount = try required("num_hidden_layers")
        config.headCount = try required("num_attention_heads")
        config.kvHeadCount = int("num_key_value_heads") ?? config.headCount
        guard config.headCount > 0 else { throw fail("num_attention_heads must be positive") }
        config.headDim = int("head_dim") ?? config.hiddenSize / config.headCount
        if let eps = json["rms_norm_eps"] as? NSNumber { config.rmsNormEps = eps.floatValue }
        config.contextLength = int("max_position_embeddings") ?? config.contextLength
        guard let pad = tokenID("pad_token_id") else {
            throw fail("missing \"pad_token_id\" (pooling needs it; the reference uses 128001)")
        }
        config.padTokenID = pad
        config.bosTokenID = tokenID("bos_token_id")
        config.eosTokenID = tokenID("eos_token_id")

        // Labels: id2label's size, else num_labels; the names are the DuoGuard categories.
        if let id2label = json["id2label"] as? [String: Any] {
            config.labelCount = id2label.count
        } else if let n = int("num_labels") {
            config.labelCount = n
        }
        guard config.labelCount == DuoGuardModel.categoryNames.count else {
            throw fail("\(config.labelCount) labels; DuoGuard has \(DuoGuardModel.categoryNames.count) categories")
        }

        // RoPE: 5.x nests everything in rope_parameters; 4.x has rope_theta + rope_scaling.
        let ropeObject: [String: Any]?
        if let parameters = json["rope_parameters"] as? [String: Any] {
            ropeObject = parameters
            guard let theta = parameters["rope_theta"] as? NSNumber else {
                throw fail("rope_parameters without rope_theta")
            }
            config.ropeTheta = theta.doubleValue
        } else {
            ropeObject = json["rope_scaling"] as? [String: Any]
            config.ropeTheta = (json["rope_theta"] as? NSNumber)?.doubleValue ?? 10_000
        }
        if let rope = ropeObject {
            let type = (rope["rope_type"] as? String) ?? (rope["type"] as? String) ?? "default"
            switch type {
            case "default":
                config.ropeScaling = nil
            case "llama3":
                func number(_ key: String) throws(ModelFileError) -> Double {
                    guard let n = rope[key] as? NSNumber else { throw fail("llama3 rope scaling without \(key)") }
                    return n.doubleValue
                }
                config.ropeScaling = RopeScaling(
                    type: "llama3",
                    factor: try number("factor"),
                    lowFreqFactor: try number("low_freq_factor"),
                    highFreqFactor: try number("high_freq_factor"),
                    originalContextLength: Int(try number("original_max_position_embeddings"))
                )
            default:
                throw fail("unsupported rope scaling type \(type)")
            }
        } else {
            config.ropeScaling = nil
        }
        try config.validate(source: path)
        self = config
    }
}
