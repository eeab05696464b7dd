import Foundation
import JSONScanning

/// The `tokenizer.ggml.*` arrays llama.cpp expects, derived from a `tokenizer.json`.
///
/// Our own workers read the verbatim `duoguard.tokenizer.json`; these keys exist only so
/// llama.cpp can load (and be benchmarked on) the same file.
struct LlamaCppVocabulary {
    var tokens: [String]
    /// llama.cpp token types: 1 normal, 3 control (special added tokens), 4 user-defined, 5 unused.
    var types: [Int32]
    var merges: [String]

    /// `vocabSize` sizes the arrays: the caller has checked it against `ModelConfig.Limits`
    /// and the embedding table's shape. Ids outside it are skipped (llama.cpp has no use for them).
    init(tokenizerJSON data: Data, path: String, vocabSize: Int) throws(ModelFileError) {
        guard let json = try? JSONValue(parsing: [UInt8](data)), let model = json["model"], let vocab = model["vocab"]?.object
        else { throw .corrupt(path: path, detail: "tokenizer.json without model.vocab") }
        var tokens = (0 ..< vocabSize).map { "[PAD\($0)]" }
        var types = [Int32](repeating: 5, count: vocabSize)
        for (token, value) in vocab {
            guard let id = value.int, id >= 0, id < vocabSize else { continue }
            tokens[id] = token
            types[id] = 1
        }
        for added in json["added_tokens"]?.array ?? [] {
            guard let id = added["id"]?.int, id >= 0, id < vocabSize,
                  let content = added["content"]?.string else { continue }
            tokens[id] = content
            types[id] = added["special"]?.bool == true ? 3 : 4
        }
        var merges: [String] = []
        for item in model["merges"]?.array ?? [] {
            if let s = item.string {
                merges.append(s)
            } else if let pair = item.array?.compactMap(\.string), pair.count == 2, item.array?.count == 2 {
                merges.append(pair[0] + " " + pair[1])
            }
        }
        self.tokens = tokens
        self.types = types
        self.merges = merges
    }
}
