import Foundation

/// A Llama-3 family tokenizer loaded from a Hugging Face `tokenizer.json`: byte-level BPE with
/// the Llama-3 split pattern, added/special tokens, and the file's post-processor (Llama-3.2
/// prepends `<|begin_of_text|>`). Produces exactly the ids of the reference `tokenizers`.
///
/// A value type that is cheap to copy and safe to share across tasks: the tables are immutable
/// and held by reference. Encoding allocates only its output and a little scratch space.
public struct Tokenizer: Sendable {
    let core: TokenizerCore

    /// Loads a tokenizer.json file, or the tokenizer.json inside a model directory.
    public init(contentsOf url: URL) throws(TokenizerError) {
        var file = url
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw .fileNotFound(url.path)
        }
        if isDirectory.boolValue {
            file = url.appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: file.path) else { throw .fileNotFound(file.path) }
        }
        let data: Data
        do {
            data = try Data(contentsOf: file, options: .mappedIfSafe)
        } catch {
            throw .unreadable(path: file.path, reason: error.localizedDescription)
        }
        try self.init(json: data)
    }

    /// Loads the text of a tokenizer.json (e.g. the copy embedded in a GGUF file).
    public init(json: Data) throws(TokenizerError) {
        let result = json.withUnsafeBytes { raw in
            Result { () throws(TokenizerError) -> TokenizerCore in
                try TokenizerLoader.load(raw.bindMemory(to: UInt8.self))
            }
        }
        core = try result.get()
    }

    /// The id the post-processor puts first (128000 `<|begin_of_text|>` for Llama-3.2); for a
    /// file whose post-processor adds nothing (Llama-3.0), the id of `<|begin_of_text|>` if any.
    public var bosTokenID: Int32? {
        core.post.prefix.first ?? core.addedIDs["<|begin_of_text|>"]
    }

    /// Number of ids (vocabulary plus added tokens): the size of the embedding table.
    public var vocabularySize: Int { core.decodeLength.count }

    /// How many special tokens the post-processor adds to each sequence (1 for Llama-3.2).
    public var specialTokenCount: Int { core.post.addedCount }

    /// The id of an added token (`"<|end_of_text|>"` → 128001) or of a vocabulary entry written
    /// in the byte-level alphabet (`"Ġhello"`).
    public func tokenID(_ token: String) -> Int32? {
        if let id = core.addedIDs[token] { return id }
        var raw: [UInt8] = []
        let mapped = Array(token.utf8).withUnsafeBufferPointer { ByteLevelAlphabet.rawBytes(ofUTF8: $0, into: &raw) }
        guard mapped else { return nil }
        let id = core.model.vocab.lookup(raw)
        return id >= 0 ? id : nil
    }

    /// Encodes text. With `addSpecialTokens`, the post-processor's tokens (BOS) are added.
    /// With `maxTokens`, content tokens beyond `maxTokens` minus the special tokens are dropped
    /// (the reference's right truncation: BOS + the first 511 content tokens for 512) and
    /// `truncated` is set. A `maxTokens` smaller than the special tokens keeps just those.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxTokens: Int? = nil) -> TokenizedText {
        var text = text
        return text.withUTF8 { encodeValid($0, addSpecialTokens: addSpecialTokens, maxTokens: maxTokens) }
    }

    /// Encodes UTF-8 bytes, which are checked first: invalid UTF-8 is rejected with
    /// `TokenizerError.invalidUTF8`, never repaired, so that what is scored is what was sent.
    public func encode(
        utf8 bytes: some Collection<UInt8>, addSpecialTokens: Bool = true, maxTokens: Int? = nil
    ) throws(TokenizerError) -> TokenizedText {
        let encoded = bytes.withContiguousStorageIfAvailable { p -> TokenizedText? in
            guard UTF8Validation.isValid(p) else { return nil }
            return encodeValid(p, addSpecialTokens: addSpecialTokens, maxTokens: maxTokens)
        } ?? Array(bytes).withUnsafeBufferPointer { p -> TokenizedText? in
            guard UTF8Validation.isValid(p) else { return nil }
            return encodeValid(p, addSpecialTokens: addSpecialTokens, maxTokens: maxTokens)
        }
        guard let encoded else { throw .invalidUTF8 }
        return encoded
    }

    private func encodeValid(_ p: UnsafeBufferPointer<UInt8>, addSpecialTokens: Bool, maxTokens: Int?) -> TokenizedText {
        let post = addSpecialTokens ? core.post : PostProcessor.none
        // Written so that no limit, Int.min or Int.max, can overflow.
        let budget = maxTokens.map { $0 <= post.addedCount ? 0 : min($0 - post.addedCount, Int.max / 2) } ?? Int.max / 2
        var ids: [Int32] = []
        ids.reserveCapacity(min(p.count / 3, budget) + post.addedCount + 8)
        ids.append(contentsOf: post.prefix)
        core.encodeContent(p, limit: post.prefix.count + budget, into: &ids)
        let truncated = ids.count > post.prefix.count + budget
        if truncated { ids.removeSubrange((post.prefix.count + budget)...) }
        ids.append(contentsOf: post.suffix)
        return TokenizedText(ids: ids, truncated: truncated)
    }

    /// Splits a long text into overlapping windows of at most `maxTokens` ids each (special
    /// tokens included, so each window starts with BOS when they are on), consecutive windows
    /// sharing `overlap` content tokens, for callers that score a long text window by window.
    /// A text that fits gives one window. No window is marked `truncated`: together they hold
    /// every token.
    public func windows(_ text: String, maxTokens: Int, overlap: Int, addSpecialTokens: Bool = true) -> [TokenizedText] {
        let post = addSpecialTokens ? core.post : PostProcessor.none
        let content = encode(text, addSpecialTokens: false).ids
        // Both non-negative and below Int.max / 2, so no sum or difference below overflows.
        let size = maxTokens <= post.addedCount ? 1 : min(maxTokens - post.addedCount, Int.max / 2)
        let step = max(1, size - min(max(0, overlap), size))
        var out: [TokenizedText] = []
        var start = 0
        repeat {
            let end = min(start + size, content.count)
            out.append(TokenizedText(ids: post.prefix + content[start..<end] + post.suffix, truncated: false))
            if end == content.count { break }
            start += step
        } while true
        return out
    }

    /// Turns ids back into text (the byte-level decoder). Bytes that do not form valid UTF-8
    /// (a window cut inside a character) become U+FFFD; unknown ids are skipped.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = false) -> String {
        String(decoding: core.decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
    }
}

extension PostProcessor {
    /// Adds nothing: what `addSpecialTokens: false` uses.
    static let none = PostProcessor(prefix: [], suffix: [])
}
