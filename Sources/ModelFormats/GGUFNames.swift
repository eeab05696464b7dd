/// Metadata keys and tensor names of our GGUF files.
///
/// llama.cpp-compatible (`general.architecture = "llama"`, `llama.*` hyperparameters, the
/// `blk.N.*` tensor names, `rope_freqs.weight`, the `tokenizer.ggml.*` keys) so llama.cpp can
/// load and benchmark the same file; DuoGuard-specific data lives under `duoguard.*`.
package enum GGUFNames {
    package static let architecture = "general.architecture"
    package static let name = "general.name"
    package static let fileType = "general.file_type"
    package static let quantizationVersion = "general.quantization_version"
    package static let alignment = "general.alignment"

    package static let contextLength = "llama.context_length"
    package static let embeddingLength = "llama.embedding_length"
    package static let blockCount = "llama.block_count"
    package static let feedForwardLength = "llama.feed_forward_length"
    package static let headCount = "llama.attention.head_count"
    package static let headCountKV = "llama.attention.head_count_kv"
    package static let keyLength = "llama.attention.key_length"
    package static let valueLength = "llama.attention.value_length"
    package static let rmsEpsilon = "llama.attention.layer_norm_rms_epsilon"
    package static let ropeFreqBase = "llama.rope.freq_base"
    package static let ropeDimensionCount = "llama.rope.dimension_count"
    package static let vocabSize = "llama.vocab_size"

    package static let formatVersion = "duoguard.format_version"
    package static let categories = "duoguard.categories"
    package static let labelCount = "duoguard.num_labels"
    package static let padTokenID = "duoguard.pad_token_id"
    package static let maxTokens = "duoguard.max_tokens"
    package static let threshold = "duoguard.threshold"
    package static let ropeScalingType = "duoguard.rope.scaling.type"
    package static let ropeScalingFactor = "duoguard.rope.scaling.factor"
    package static let ropeLowFreqFactor = "duoguard.rope.scaling.low_freq_factor"
    package static let ropeHighFreqFactor = "duoguard.rope.scaling.high_freq_factor"
    package static let ropeOriginalContext = "duoguard.rope.scaling.original_context_length"
    package static let sourceModel = "duoguard.source_model"
    package static let contentHash = "duoguard.content_hash"
    package static let tokenizerJSON = "duoguard.tokenizer.json"

    package static let tokenizerModel = "tokenizer.ggml.model"
    package static let tokenizerPre = "tokenizer.ggml.pre"
    package static let tokens = "tokenizer.ggml.tokens"
    package static let tokenTypes = "tokenizer.ggml.token_type"
    package static let merges = "tokenizer.ggml.merges"
    package static let bosID = "tokenizer.ggml.bos_token_id"
    package static let eosID = "tokenizer.ggml.eos_token_id"
    package static let padID = "tokenizer.ggml.padding_token_id"

    package static let tokenEmbedding = "token_embd.weight"
    package static let outputNorm = "output_norm.weight"
    package static let ropeFrequencies = "rope_freqs.weight"
    package static let classifier = "cls.output.weight"

    package static func block(_ layer: Int, _ part: String) -> String { "blk.\(layer).\(part).weight" }
}
