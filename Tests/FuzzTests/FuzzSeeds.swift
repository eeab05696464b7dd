import Foundation
import TestSupport
@testable import Inference
@testable import ModelFormats
@testable import Tokenizer

/// Valid inputs the targets start from, built here rather than committed so that they follow
/// the formats as the code writes them.
enum FuzzSeeds {
    static let repositoryRoot = RepositoryRoot.url

    /// A scratch directory for this process (files the targets write their input to).
    static let scratch: URL = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("duoguard-fuzz-\(getpid())-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    // MARK: tokenizer.json

    /// A miniature Llama-3-style tokenizer.json: the 256 byte tokens, a few merges and vocab
    /// words, two added tokens, the Llama-3 split, and a post-processor.
    static func tokenizerJSON(pairMerges: Bool = false, llama32Post: Bool = true, ignoreMerges: Bool = false) -> [UInt8] {
        let quoted = JSONStringLiteral.quote
        var vocab: [String] = []
        for b in 0 ..< 256 {
            guard let scalar = Unicode.Scalar(ByteLevelAlphabet.scalarForByte[b]) else { continue }
            vocab.append(String(Character(scalar)))
        }
        vocab += ["he", "ll", "hell", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld", "ĠĠ", "12", "123"]
        let merges: [(String, String)] = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"),
                                          ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"), ("Ġ", "Ġ"), ("1", "2"), ("12", "3")]
        let vocabJSON = vocab.enumerated().map { "\(quoted($0.element)): \($0.offset)" }.joined(separator: ", ")
        let mergesJSON = merges.map { pairMerges ? "[\(quoted($0.0)), \(quoted($0.1))]" : quoted("\($0.0) \($0.1)") }.joined(separator: ", ")
        let bos = vocab.count, eos = vocab.count + 1
        let post = llama32Post
            ? """
              {"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
               {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [], "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [\(bos)], "tokens": ["<|begin_of_text|>"]}}}]}
              """
            : #"{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true}"#
        let text = """
            {"version": "1.0", "truncation": null, "padding": null,
             "added_tokens": [{"id": \(bos), "content": "<|begin_of_text|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                              {"id": \(eos), "content": "<|end_of_text|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
             "normalizer": null,
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Split", "pattern": {"Regex": \(quoted(Llama3PreTokenizer.pattern))}, "behavior": "Isolated", "invert": false},
               {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
             "post_processor": \(post),
             "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
                       "fuse_unk": false, "byte_fallback": false, "ignore_merges": \(ignoreMerges),
                       "vocab": {\(vocabJSON)}, "merges": [\(mergesJSON)]}}
            """
        return Array(text.utf8)
    }

    /// Ids in the mini tokenizer: 268 vocab entries, then BOS and EOS.
    static let miniVocabularySize = 270

    // MARK: safetensors and a tiny model directory

    struct SafeTensor {
        var name: String
        var dtype: String
        var shape: [Int]
        var values: [Float]
    }

    /// A .safetensors file: length, JSON header, data (F32 or BF16, little-endian).
    static func safetensors(_ tensors: [SafeTensor], metadata: [String: String] = ["format": "pt"]) -> [UInt8] {
        var header: [String: Any] = ["__metadata__": metadata]
        var data: [UInt8] = []
        for t in tensors {
            let begin = data.count
            for v in t.values {
                if t.dtype == "BF16" {
                    withUnsafeBytes(of: UInt16(truncatingIfNeeded: v.bitPattern >> 16).littleEndian) { data.append(contentsOf: $0) }
                } else {
                    withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) }
                }
            }
            header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [begin, data.count]]
        }
        let json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        out += json
        out += data
        return out
    }

    static let hidden = 32, intermediate = 64, heads = 2, kvHeads = 1, headDim = 16

    /// config.json of a one-layer DuoGuard-shaped model over the mini tokenizer.
    static func configJSON(layers: Int = 1, v5: Bool = false) -> [UInt8] {
        var config: [String: Any] = [
            "architectures": ["LlamaForSequenceClassification"], "model_type": "llama", "hidden_act": "silu",
            "attention_bias": false, "mlp_bias": false, "vocab_size": miniVocabularySize, "hidden_size": hidden,
            "intermediate_size": intermediate, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kvHeads, "head_dim": headDim, "rms_norm_eps": 1e-5,
            "max_position_embeddings": 131_072, "pad_token_id": miniVocabularySize - 1,
            "bos_token_id": miniVocabularySize - 2, "eos_token_id": [miniVocabularySize - 1],
            "id2label": Dictionary(uniqueKeysWithValues: (0 ..< 12).map { ("\($0)", "LABEL_\($0)") }),
            "tie_word_embeddings": true, "torch_dtype": "bfloat16",
        ]
        let rope: [String: Any] = ["rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 8192]
        if v5 {
            config["rope_parameters"] = rope.merging(["rope_theta": 500_000.0]) { a, _ in a }
        } else {
            config["rope_theta"] = 500_000.0
            config["rope_scaling"] = rope
        }
        let data = (try? JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted])) ?? Data()
        return [UInt8](data)
    }

    /// The tiny model's tensors in Hugging Face naming, with seeded random weights.
    static func modelTensors(layers: Int = 1) -> [SafeTensor] {
        var rng = SplitMix64(seed: 42)
        func values(_ count: Int, scale: Float = 0.2) -> [Float] {
            (0 ..< count).map { _ in (Float(rng.next() % 2001) / 1000 - 1) * scale }
        }
        let h = hidden
        var tensors = [SafeTensor(name: "model.embed_tokens.weight", dtype: "F32", shape: [miniVocabularySize, h], values: values(miniVocabularySize * h))]
        for l in 0 ..< layers {
            let p = "model.layers.\(l)."
            tensors += [
                SafeTensor(name: p + "input_layernorm.weight", dtype: "BF16", shape: [h], values: values(h, scale: 1)),
                SafeTensor(name: p + "self_attn.q_proj.weight", dtype: "F32", shape: [heads * headDim, h], values: values(heads * headDim * h)),
                SafeTensor(name: p + "self_attn.k_proj.weight", dtype: "F32", shape: [kvHeads * headDim, h], values: values(kvHeads * headDim * h)),
                SafeTensor(name: p + "self_attn.v_proj.weight", dtype: "F32", shape: [kvHeads * headDim, h], values: values(kvHeads * headDim * h)),
                SafeTensor(name: p + "self_attn.o_proj.weight", dtype: "F32", shape: [h, heads * headDim], values: values(h * heads * headDim)),
                SafeTensor(name: p + "post_attention_layernorm.weight", dtype: "BF16", shape: [h], values: values(h, scale: 1)),
                SafeTensor(name: p + "mlp.gate_proj.weight", dtype: "F32", shape: [intermediate, h], values: values(intermediate * h)),
                SafeTensor(name: p + "mlp.up_proj.weight", dtype: "F32", shape: [intermediate, h], values: values(intermediate * h)),
                SafeTensor(name: p + "mlp.down_proj.weight", dtype: "F32", shape: [h, intermediate], values: values(h * intermediate)),
            ]
        }
        tensors.append(SafeTensor(name: "model.norm.weight", dtype: "BF16", shape: [h], values: values(h, scale: 1)))
        tensors.append(SafeTensor(name: "score.weight", dtype: "F32", shape: [12, h], values: values(12 * h)))
        return tensors
    }

    /// A Hugging Face directory of the tiny model (config.json, model.safetensors, tokenizer.json).
    static let modelDirectory: URL = {
        let dir = scratch.appendingPathComponent("tiny-model")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try? Data(configJSON()).write(to: dir.appendingPathComponent("config.json"))
        try? Data(safetensors(modelTensors())).write(to: dir.appendingPathComponent("model.safetensors"))
        try? Data(tokenizerJSON()).write(to: dir.appendingPathComponent("tokenizer.json"))
        return dir
    }()

    // MARK: GGUF

    /// The tiny model converted by `ModelConverter` to each of our tensor types.
    static func ggufModels() throws -> [[UInt8]] {
        let directory = try HuggingFaceModelDirectory(path: modelDirectory.path)
        var out: [[UInt8]] = []
        for type in [TensorType.q8_0, .q4_0, .f16] {
            let path = scratch.appendingPathComponent("tiny-\(type).gguf").path
            _ = try ModelConverter.convert(directory: directory, to: path, options: ConversionOptions(type: type))
            out.append([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        return out
    }

    /// A GGUF file with one key of every value type and a few small tensors, no model.
    static func ggufOfEveryType() throws -> [UInt8] {
        var writer = GGUFWriter()
        writer.add("general.architecture", .string("llama"))
        writer.add("general.alignment", .uint32(32))
        writer.add("k.u8", .uint8(200))
        writer.add("k.i8", .int8(-100))
        writer.add("k.u16", .uint16(60_000))
        writer.add("k.i16", .int16(-30_000))
        writer.add("k.u32", .uint32(4_000_000_000))
        writer.add("k.i32", .int32(-2_000_000_000))
        writer.add("k.f32", .float32(1.5))
        writer.add("k.bool", .bool(true))
        writer.add("k.string", .string("héllo"))
        writer.add("k.u64", .uint64(1 << 40))
        writer.add("k.i64", .int64(-(1 << 40)))
        writer.add("k.f64", .float64(-2.25))
        writer.add("k.strings", .array(elementType: 8, [.string("a"), .string(""), .string("ccc")]))
        writer.add("k.ints", .array(elementType: 5, [.int32(1), .int32(-2), .int32(3)]))
        writer.tensors = [
            GGUFWriter.Tensor(name: "a.f32", dimensions: [4, 2], type: .f32),
            GGUFWriter.Tensor(name: "b.q8", dimensions: [32, 2], type: .q8_0),
            GGUFWriter.Tensor(name: "c.q4", dimensions: [64], type: .q4_0),
        ]
        let path = scratch.appendingPathComponent("every-type.gguf").path
        let tensors = writer.tensors
        _ = try writer.write(to: path, produce: { (i: Int) throws(ModelFileError) -> [UInt8] in
            [UInt8](repeating: UInt8(i + 1), count: tensors[i].byteCount)
        })
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
