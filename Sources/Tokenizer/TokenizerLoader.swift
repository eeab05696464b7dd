import JSONScanning

/// Reads a tokenizer.json into the tables of a `TokenizerCore`.
///
/// Streams the `model.vocab` and `model.merges` sections (hundreds of thousands of entries)
/// straight into byte tables; everything else is parsed into small `JSONValue`s and checked
/// against what this implementation supports, so that an unexpected file fails at load with a
/// message instead of producing wrong ids.
enum TokenizerLoader {
    /// Token ids are below this (16,777,216), whatever the file: the decoding tables have one
    /// slot per id. The largest published vocabularies have about 260 k entries.
    static let maxTokenIDs = 1 << 24

    /// The ids a file of `size` bytes may use: below its size too, since each id needs its
    /// own entry of several bytes. So a 4 kB file cannot make the tables 19 GB with one id
    /// of 2^31 - 1: they stay within a small multiple of the file.
    static func idLimit(fileSize size: Int) -> Int { min(maxTokenIDs, size) }

    /// The largest tokenizer.json loaded (1 GiB; Llama-3's is 9 MB): keeps every offset
    /// into the tables within 32 bits.
    static let maxFileBytes = 1 << 30

    static func load(_ json: UnsafeBufferPointer<UInt8>) throws(TokenizerError) -> TokenizerCore {
        guard json.count <= maxFileBytes else {
            throw .unsupported("a tokenizer.json of \(json.count) bytes (at most \(maxFileBytes) are loaded)")
        }
        var reader = TokenizerJSONReader(json)
        var sections: [String: JSONValue] = [:]
        var model: ModelSection?
        let idLimit = idLimit(fileSize: json.count)
        guard reader.peek() == UInt8(ascii: "{") else { throw .malformed("top level is not an object") }
        try reader.readObject { (r: inout TokenizerJSONReader, key: String) throws(TokenizerError) in
            if key == "model" {
                model = try ModelSection.read(&r, idLimit: idLimit)
            } else {
                sections[key] = try r.readValue()
            }
        }
        try reader.expectEnd()
        guard let model else { throw .malformed("no model section") }

        if let normalizer = sections["normalizer"], !normalizer.isNull {
            throw .unsupported("normalizer \(normalizer["type"]?.string ?? "?")")
        }
        try checkPreTokenizer(sections["pre_tokenizer"] ?? .null)
        try checkDecoder(sections["decoder"] ?? .null)
        let post = try PostProcessor(sections["post_processor"] ?? .null)
        let added = try addedTokens(sections["added_tokens"] ?? .array([]), idLimit: idLimit)
        return try TokenizerCore(model: model, added: added, post: post)
    }

    /// The only pre-tokenizer provided: Llama-3's regex split followed by byte-level mapping.
    static func checkPreTokenizer(_ json: JSONValue) throws(TokenizerError) {
        guard let type = json["type"]?.string else {
            throw json.isNull ? .unsupported("no pre_tokenizer (the Llama-3 split is required)")
                : .malformed("pre_tokenizer without a type")
        }
        guard type == "Sequence", let steps = json["pretokenizers"]?.array, steps.count == 2 else {
            throw .unsupported("pre_tokenizer \(type) (expected Sequence[Split, ByteLevel] as in Llama-3)")
        }
        let split = steps[0], byteLevel = steps[1]
        guard split["type"]?.string == "Split" else {
            throw .unsupported("pre_tokenizer step \(split["type"]?.string ?? "?") (expected Split)")
        }
        guard let pattern = split["pattern"]?["Regex"]?.string else {
            throw .unsupported("Split pre-tokenizer without a Regex pattern")
        }
        guard pattern == Llama3PreTokenizer.pattern else {
            throw .unsupported("Split pattern \(pattern) (only the Llama-3 pattern is implemented)")
        }
        guard split["behavior"]?.string == "Isolated", split["invert"]?.bool != true else {
            throw .unsupported("Split behavior \(split["behavior"]?.string ?? "?") (expected Isolated)")
        }
        guard byteLevel["type"]?.string == "ByteLevel" else {
            throw .unsupported("pre_tokenizer step \(byteLevel["type"]?.string ?? "?") (expected ByteLevel)")
        }
        guard byteLevel["use_regex"]?.bool == false else {
            throw .unsupported("ByteLevel pre-tokenizer with use_regex (the GPT-2 split)")
        }
        guard byteLevel["add_prefix_space"]?.bool != true else {
            throw .unsupported("ByteLevel pre-tokenizer with add_prefix_space")
        }
    }

    static func checkDecoder(_ json: JSONValue) throws(TokenizerError) {
        if json.isNull { return }
        guard let type = json["type"]?.string else { throw .malformed("decoder without a type") }
        guard type == "ByteLevel" else { throw .unsupported("decoder \(type) (expected ByteLevel)") }
    }

    static func outOfRange(_ what: String, _ id: Int, _ limit: Int) -> TokenizerError {
        .malformed("\(what) \(id) is out of range: ids must be below \(limit) (the file's size in bytes, at most \(maxTokenIDs))")
    }

    struct AddedToken {
        var id: Int32
        var content: String
        var special: Bool
    }

    static func addedTokens(_ json: JSONValue, idLimit: Int) throws(TokenizerError) -> [AddedToken] {
        guard let entries = json.array else { throw .malformed("added_tokens is not an array") }
        var out: [AddedToken] = []
        for entry in entries {
            guard let id = entry["id"]?.int, id >= 0, let content = entry["content"]?.string
            else { throw .malformed("added token without a valid id and content") }
            guard id < idLimit, let id32 = Int32(exactly: id) else { throw outOfRange("added token id", id, idLimit) }
            for flag in ["lstrip", "rstrip", "single_word"] where entry[flag]?.bool == true {
                throw .unsupported("added token \(content) with \(flag)")
            }
            out.append(AddedToken(id: id32, content: content, special: entry["special"]?.bool ?? false))
        }
        return out
    }
}

/// The `model` section as read from the file, vocab and merges already in raw bytes.
struct ModelSection {
    var fields: [String: JSONValue] = [:]
    /// Vocabulary entries spelled in the byte-level alphabet, as raw bytes.
    var vocab = ByteStringTable()
    /// Entries that are not byte-level spellings: kept (as UTF-8, what the reference's decoder
    /// emits for them) for decoding only, since byte-level BPE can never produce them.
    var unmappedVocab: [(id: Int32, utf8: [UInt8])] = []
    var maxVocabID: Int32 = -1
    /// Each merge as left bytes immediately followed by right bytes, so the merged token's
    /// spelling is the contiguous range.
    var mergeArena: [UInt8] = []
    var mergeEntries: [MergeEntry] = []
    var sawVocab = false
    var sawMerges = false

    struct MergeEntry {
        var start: UInt32
        var leftLength: UInt16
        var rightLength: UInt16
    }

    static func read(_ r: inout TokenizerJSONReader, idLimit: Int) throws(TokenizerError) -> ModelSection {
        var section = ModelSection()
        var keyScratch: [UInt8] = []
        try r.readObjectRawKeys({ (r: inout TokenizerJSONReader, key: [UInt8]) throws(TokenizerError) in
            switch String(decoding: key, as: UTF8.self) {
            case "vocab":
                section.sawVocab = true
                try section.readVocab(&r, idLimit: idLimit)
            case "merges":
                section.sawMerges = true
                try section.readMerges(&r)
            case let other:
                section.fields[other] = try r.readValue()
            }
        }, scratch: &keyScratch)
        return section
    }

    private mutating func readVocab(_ r: inout TokenizerJSONReader, idLimit: Int) throws(TokenizerError) {
        var scratch: [UInt8] = []
        var table = ByteStringTable()
        var unmapped: [(id: Int32, utf8: [UInt8])] = []
        var maxID: Int32 = -1
        try r.readObjectRawKeys({ (r: inout TokenizerJSONReader, key: [UInt8]) throws(TokenizerError) in
            let id = try r.readInt()
            guard id >= 0, id < idLimit, let id32 = Int32(exactly: id) else {
                throw TokenizerLoader.outOfRange("vocab id", id, idLimit)
            }
            maxID = max(maxID, id32)
            let mapped = key.withUnsafeBufferPointer { table.append(byteLevel: $0, value: id32) }
            if !mapped { unmapped.append((id32, key)) }
        }, scratch: &scratch)
        vocab = table
        unmappedVocab = unmapped
        maxVocabID = maxID
    }

    private mutating func readMerges(_ r: inout TokenizerJSONReader) throws(TokenizerError) {
        var scratch: [UInt8] = []
        var arena: [UInt8] = []
        var entries: [MergeEntry] = []
        // Sized for Llama-3 (1.6 MB of merge text, 280 k merges), never beyond what the rest
        // of the file can hold (a merge takes at least 6 bytes of JSON).
        arena.reserveCapacity(min(1 << 21, r.remaining))
        entries.reserveCapacity(min(1 << 19, r.remaining / 6))
        try r.readArray { (r: inout TokenizerJSONReader) throws(TokenizerError) in
            let start = arena.count
            var leftLength = 0
            if r.peek() == UInt8(ascii: "\"") {
                // "left right"
                scratch.removeAll(keepingCapacity: true)
                try r.readString(into: &scratch)
                guard let space = scratch.firstIndex(of: 0x20),
                      scratch[(space + 1)...].firstIndex(of: 0x20) == nil
                else { throw .malformed("merge \"\(String(decoding: scratch, as: UTF8.self))\" is not two tokens") }
                let ok = scratch.withUnsafeBufferPointer { p -> Bool in
                    guard ByteLevelAlphabet.rawBytes(ofUTF8: UnsafeBufferPointer(rebasing: p[..<space]), into: &arena) else {
                        return false
                    }
                    leftLength = arena.count - start
                    return ByteLevelAlphabet.rawBytes(ofUTF8: UnsafeBufferPointer(rebasing: p[(space + 1)...]), into: &arena)
                }
                guard ok else { throw .unsupported("merge with a token outside the byte-level alphabet") }
            } else {
                // ["left", "right"]
                var part = 0
                try r.readArray { (r: inout TokenizerJSONReader) throws(TokenizerError) in
                    guard part < 2 else { throw .malformed("merge pair with more than two tokens") }
                    scratch.removeAll(keepingCapacity: true)
                    try r.readString(into: &scratch)
                    let ok = scratch.withUnsafeBufferPointer { ByteLevelAlphabet.rawBytes(ofUTF8: $0, into: &arena) }
                    guard ok else { throw .unsupported("merge with a token outside the byte-level alphabet") }
                    if part == 0 { leftLength = arena.count - start }
                    part += 1
                }
                guard part == 2 else { throw .malformed("merge pair without two tokens") }
            }
            let rightLength = arena.count - start - leftLength
            guard start <= Int(UInt32.max), leftLength <= Int(UInt16.max), rightLength <= Int(UInt16.max) else {
                throw .malformed("merge too long")
            }
            entries.append(MergeEntry(start: UInt32(start), leftLength: UInt16(leftLength), rightLength: UInt16(rightLength)))
        }
        mergeArena = arena
        mergeEntries = entries
    }
}
