import Foundation
import JSONScanning

/// The hyperparameters of a DuoGuard (Llama sequence-classification) model.
///
/// Read from a Hugging Face `config.json` (transformers 4.x or 5.x layout) when converting,
/// and from GGUF metadata when loading. Defaults are the published
/// DuoGuard-1B-Llama-3.2-transfer values.
public struct ModelConfig: Sendable, Equatable {
    /// The reference usage's truncation (DuoGuard's model card: 512 tokens). The one place
    /// this number is written: files, scoring and the command line take it from here.
    public static let referenceMaxTokens = 512
    /// The model card's decision threshold on each probability.
    public static let referenceThreshold: Float = 0.5
    /// The 12 DuoGuard categories, in logit order (the published model's `id2label`); the
    /// runtime names them `DuoGuardModel.categoryNames`.
    public static let duoGuardCategories: [String] = [
        "Violent crimes", "Non-violent crimes", "Sex-related crimes", "Child sexual exploitation",
        "Specialized advice", "Privacy", "Intellectual property", "Indiscriminate weapons",
        "Hate", "Suicide and self-harm", "Sexual content", "Jailbreak prompts",
    ]

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
    public var maxTokens: Int = ModelConfig.referenceMaxTokens
    /// A text is unsafe when its largest probability exceeds this (default 0.5).
    public var threshold: Float = ModelConfig.referenceThreshold
    /// One name per label; the 12 DuoGuard categories by default.
    public var categoryNames: [String] = ModelConfig.duoGuardCategories

    public init() {}

    package var qDim: Int { headCount * headDim }
    package var kvDim: Int { kvHeadCount * headDim }

    /// The rotary inverse frequency of each adjacent pair (head_dim / 2 values), scaled.
    ///
    /// Computed in Double and rounded once to Float, which is what `transformers` gets in fp32
    /// to within an ulp.
    package func ropeInverseFrequencies() -> [Float] {
        (0 ..< headDim / 2).map { i in
            let base = 1 / pow(ropeTheta, Double(2 * i) / Double(headDim))
            let factor = ropeScaling?.frequencyFactor(inverseFrequency: base) ?? 1
            return Float(base / factor)
        }
    }

    /// The factors llama.cpp expects in `rope_freqs.weight` (1 for every pair without scaling).
    package func ropeFrequencyFactors() -> [Float] {
        (0 ..< headDim / 2).map { i in
            let base = 1 / pow(ropeTheta, Double(2 * i) / Double(headDim))
            return Float(ropeScaling?.frequencyFactor(inverseFrequency: base) ?? 1)
        }
    }

    /// Upper bounds on the hyperparameters, far above any Llama model (Llama-3.1-405B: hidden
    /// 16,384, MLP 53,248, 126 layers, 128 heads, vocabulary 128,256) and low enough that every
    /// size computed from them (the query and key/value widths, the embedding table's element
    /// count, scratch buffers) fits in an `Int` without overflow. Files come from outside:
    /// their numbers are checked against these before any product is formed.
    public enum Limits {
        /// Vocabulary entries (16,777,216).
        public static let vocabSize = 1 << 24
        /// `hidden_size` and `intermediate_size` (1,048,576).
        public static let width = 1 << 20
        /// `num_hidden_layers` (4,096).
        public static let layers = 1 << 12
        /// `num_attention_heads`, `num_key_value_heads` and `head_dim` (4,096 each).
        public static let heads = 1 << 12
        /// Labels of the classification head (4,096).
        public static let labels = 1 << 12
        /// Positions: `max_position_embeddings`, the rope's original context, max tokens (16,777,216).
        public static let positions = 1 << 24
    }

    /// Checks the invariants the forward pass relies on, with messages that use the
    /// config.json names.
    func validate(source: String) throws(ModelFileError) {
        func fail(_ detail: String) -> ModelFileError { .badConfig(path: source, detail: detail) }
        func check(_ name: String, _ value: Int, _ limit: Int) throws(ModelFileError) {
            guard value >= 1, value <= limit else { throw fail("\(name) \(value) is outside 1...\(limit)") }
        }
        // Ranges first: the products below (and qDim, kvDim everywhere) rely on them.
        try check("vocab_size", vocabSize, Limits.vocabSize)
        try check("hidden_size", hiddenSize, Limits.width)
        try check("intermediate_size", intermediateSize, Limits.width)
        try check("num_hidden_layers", layerCount, Limits.layers)
        try check("num_attention_heads", headCount, Limits.heads)
        try check("num_key_value_heads", kvHeadCount, Limits.heads)
        try check("head_dim", headDim, Limits.heads)
        try check("max_position_embeddings", contextLength, Limits.positions)
        try check("max tokens", maxTokens, Limits.positions)
        try check("the number of labels", labelCount, Limits.labels)
        guard headCount % kvHeadCount == 0 else {
            throw fail("num_attention_heads (\(headCount)) must be a multiple of num_key_value_heads (\(kvHeadCount))")
        }
        guard headDim % 2 == 0 else { throw fail("head_dim must be even, got \(headDim)") }
        guard categoryNames.count == labelCount else {
            throw fail("\(categoryNames.count) category names for \(labelCount) labels")
        }
        guard padTokenID >= 0, Int(padTokenID) < vocabSize else {
            throw fail("pad_token_id \(padTokenID) outside the vocabulary (\(vocabSize))")
        }
        guard rmsNormEps.isFinite, rmsNormEps > 0 else { throw fail("rms_norm_eps must be positive and finite, got \(rmsNormEps)") }
        guard ropeTheta.isFinite, ropeTheta > 0 else { throw fail("rope_theta must be positive and finite, got \(ropeTheta)") }
        if let s = ropeScaling {
            guard s.type == "llama3" else { throw fail("unsupported rope scaling type \(s.type)") }
            let finite = [s.factor, s.lowFreqFactor, s.highFreqFactor].allSatisfy(\.isFinite)
            guard finite, s.factor > 0, s.lowFreqFactor > 0, s.highFreqFactor > s.lowFreqFactor else {
                throw fail("invalid llama3 rope scaling parameters (factor \(s.factor), low \(s.lowFreqFactor), high \(s.highFreqFactor))")
            }
            try check("rope original_max_position_embeddings", s.originalContextLength, Limits.positions)
        }
        // NaN fails both comparisons. 0 and 1 would make every text safe or unsafe.
        guard threshold > 0, threshold < 1 else { throw fail("threshold must be strictly between 0 and 1, got \(threshold)") }
    }
}

extension ModelConfig {
    /// Parses a Hugging Face `config.json` of a `LlamaForSequenceClassification` model.
    ///
    /// Accepts both the transformers 4.x layout (`rope_theta` + `rope_scaling`, used by the
    /// published checkpoint) and the 5.x layout (`rope_parameters` holding `rope_theta`).
    public init(huggingFaceConfig data: Data, path: String) throws(ModelFileError) {
        func fail(_ detail: String) -> ModelFileError { .badConfig(path: path, detail: detail) }
        let document: JSONValue
        do {
            document = try JSONValue(parsing: [UInt8](data))
        } catch {
            throw fail("not valid JSON (\(error))")
        }
        guard let json = document.object else { throw fail("not a JSON object") }

        // Exact integers only (JSONValue.int): 1.5, 1e300 and true are not integers.
        func required(_ key: String) throws(ModelFileError) -> Int {
            guard let value = json[key]?.int else { throw fail("missing or non-integer \"\(key)\"") }
            return value
        }
        func optional(_ key: String) throws(ModelFileError) -> Int? {
            guard let value = json[key], !value.isNull else { return nil }
            return try required(key)
        }
        /// A token id, or the first of a list of them (`eos_token_id` may be a list).
        func tokenID(_ key: String) throws(ModelFileError) -> Int32? {
            guard let raw = json[key], !raw.isNull else { return nil }
            let value: JSONValue
            if let list = raw.array {
                guard let first = list.first else { return nil }
                value = first
            } else {
                value = raw
            }
            guard let id = value.int.flatMap({ Int32(exactly: $0) }), id >= 0 else {
                throw fail("\"\(key)\" must be a token id (0...\(Int32.max))")
            }
            return id
        }

        let modelType = json["model_type"]?.string
        let architectures = json["architectures"]?.array?.compactMap(\.string) ?? []
        guard modelType == "llama" else {
            throw .unsupportedArchitecture("model_type \(modelType ?? "missing") (expected llama)")
        }
        if !architectures.isEmpty, !architectures.contains("LlamaForSequenceClassification") {
            throw .unsupportedArchitecture(architectures.joined(separator: ", "))
        }
        if let act = json["hidden_act"]?.string, act != "silu" {
            throw .unsupportedArchitecture("hidden_act \(act) (expected silu)")
        }
        for flag in ["attention_bias", "mlp_bias"] where json[flag]?.bool == true {
            throw .unsupportedArchitecture("\(flag) = true")
        }

        var config = ModelConfig()
        config.vocabSize = try required("vocab_size")
        config.hiddenSize = try required("hidden_size")
        config.intermediateSize = try required("intermediate_size")
        config.layerCount = try required("num_hidden_layers")
        config.headCount = try required("num_attention_heads")
        config.kvHeadCount = try optional("num_key_value_heads") ?? config.headCount
        guard config.headCount > 0 else { throw fail("num_attention_heads must be positive") }
        config.headDim = try optional("head_dim") ?? config.hiddenSize / config.headCount
        if let eps = json["rms_norm_eps"] {
            guard let value = eps.double else { throw fail("\"rms_norm_eps\" must be a number") }
            config.rmsNormEps = Float(value)
        }
        config.contextLength = try optional("max_position_embeddings") ?? config.contextLength
        guard let pad = try tokenID("pad_token_id") else {
            throw fail("missing \"pad_token_id\" (pooling needs it; the reference uses 128001)")
        }
        config.padTokenID = pad
        config.bosTokenID = try tokenID("bos_token_id")
        config.eosTokenID = try tokenID("eos_token_id")

        // Labels: id2label's size, else num_labels; the names are the DuoGuard categories.
        if let id2label = json["id2label"]?.object {
            config.labelCount = id2label.count
        } else if let n = try optional("num_labels") {
            config.labelCount = n
        }
        guard config.labelCount == ModelConfig.duoGuardCategories.count else {
            throw fail("\(config.labelCount) labels; DuoGuard has \(ModelConfig.duoGuardCategories.count) categories")
        }

        // RoPE: 5.x nests everything in rope_parameters; 4.x has rope_theta + rope_scaling.
        let ropeObject: [String: JSONValue]?
        if let parameters = json["rope_parameters"]?.object {
            ropeObject = parameters
            guard let theta = parameters["rope_theta"]?.double else {
                throw fail("rope_parameters without rope_theta")
            }
            config.ropeTheta = theta
        } else {
            ropeObject = json["rope_scaling"]?.object
            if let theta = json["rope_theta"] {
                guard let value = theta.double else { throw fail("\"rope_theta\" must be a number") }
                config.ropeTheta = value
            } else {
                config.ropeTheta = 10_000
            }
        }
        if let rope = ropeObject {
            let type = rope["rope_type"]?.string ?? rope["type"]?.string ?? "default"
            switch type {
            case "default":
                config.ropeScaling = nil
            case "llama3":
                func number(_ key: String) throws(ModelFileError) -> Double {
                    guard let n = rope[key]?.double else { throw fail("llama3 rope scaling without \(key)") }
                    return n
                }
                guard let context = rope["original_max_position_embeddings"]?.int else {
                    throw fail("llama3 rope scaling without an integer original_max_position_embeddings")
                }
                config.ropeScaling = RopeScaling(
                    type: "llama3",
                    factor: try number("factor"),
                    lowFreqFactor: try number("low_freq_factor"),
                    highFreqFactor: try number("high_freq_factor"),
                    originalContextLength: context
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
