/// Metadata keys and tensor names of our GGUF files.
///
/// llama.cpp-compatible (`general.architecture = "llama"`, `llama.*` hyperparameters, the
/// `blk.N.*` tensor names, `rope_freqs.weight`, the `tokenizer.ggml.*` keys) so llama.cpp can
/// load and benchmark the same file; DuoGuard-specific data lives under `duoguard.*`.
enum GGUFNames {
    static let architecture = "general.architecture"
    static let name = "general.name"
    static let fileType = "general.file_type"
    static let quantizationVersion = "general.quantization_version"
    static let alignment = "general.alignment"

    static let contextLength = "llama.context_length"
    static let embeddingLength = "llama.embedding_length"
    static let blockCount = "llama.block_count"
    static let feedForwardLength = "llama.feed_forward_length"
    static let headCount = "llama.attention.head_count"
    static let headCountKV = "llama.attention.head_count_kv"
    static let keyLength = "llama.attention.key_length"
    static let valueLength = "llama.attention.value_length"
    static let rmsEpsilon = "llama.attention.layer_norm_rms_epsilon"
    static let ropeFreqBase = "llama.rope.freq_base"
    static let ropeDimensionCount = "llama.rope.dimension_count"
    static let vocabSize = "llama.vocab_size"

    static let formatVersion = "duoguard.format_version"
    static let categories = "duoguard.categories"
    static let labelCount = "duoguard.num_labels"
    static let padTokenID = "duoguard.pad_token_id"
    static let maxTokens = "duoguard.max_tokens"
    static let threshold = "duoguard.threshold"
    static let ropeScalingType = "duoguard.rope.scaling.type"
    static let ropeScalingFactor = "duoguard.rope.scaling.factor"
    static let ropeLowFreqFactor = "duoguard.rope.scaling.low_freq_factor"
    static let ropeHighFreqFactor = "duoguard.rope.scaling.high_freq_factor"
    static let ropeOriginalContext = "duoguard.rope.scaling.original_context_length"
    static let sourceModel = "duoguard.source_model"
    static let contentHash = "duoguard.content_hash"
    static let tokenizerJSON = "duoguard.tokenizer.json"

    static let tokenizerModel = "tokenizer.ggml.model"
    static let tokenizerPre = "tokenizer.ggml.pre"
    static let tokens = "tokenizer.ggml.tokens"
    static let tokenTypes = "tokenizer.ggml.token_type"
    static let merges = "tokenizer.ggml.merges"
    static let bosID = "tokenizer.ggml.bos_token_id"
    static let eosID = "tokenizer.ggml.eos_token_id"
    static let padID = "tokenizer.ggml.padding_token_id"

    static let tokenEmbedding = "token_embd.weight"
    static let outputNorm = "output_norm.weight"
    static let ropeFrequencies = "rope_freqs.weight"
    static let classifier = "cls.output.weight"

    static func block(_ layer: Int, _ part: String) -> String { "blk.\(layer).\(part).weight" }
}
