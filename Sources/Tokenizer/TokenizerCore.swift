/// The immutable tables behind a `Tokenizer`, shared by all its copies (a class, so that
/// copying a `Tokenizer` into tasks and actors costs one reference count, not 10 MB).
final class TokenizerCore: Sendable {
    let model: BytePairModel
    let preTokenizer: Llama3PreTokenizer
    let addedMatcher: AddedTokenMatcher
    let post: PostProcessor
    /// Id of each added token, by content.
    let addedIDs: [String: Int32]
    /// For decoding: the bytes each id stands for (raw bytes for vocab tokens, UTF-8 content for
    /// added tokens), and whether the id is a special token.
    let decodeArena: [UInt8]
    let decodeStart: [UInt32]
    let decodeLength: [Int32]  // -1: no such id
    let isSpecial: [Bool]

    init(model m: ModelSection, added: [TokenizerLoader.AddedToken], post: PostProcessor) throws(TokenizerError) {
        let type = m.fields["type"]?.string ?? "BPE"
        guard type == "BPE" else { throw .unsupported("model type \(type) (only byte-level BPE is implemented)") }
        guard m.sawVocab, m.sawMerges else { throw .malformed("BPE model without vocab or merges") }
        if let dropout = m.fields["dropout"], !dropout.isNull {
            throw .unsupported("BPE dropout")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = m.fields[key], !v.isNull, v != .string("") { throw .unsupported("BPE \(key)") }
        }
        if m.fields["byte_fallback"]?.bool == true { throw .unsupported("BPE byte_fallback") }
        let ignoreMerges = m.fields["ignore_merges"]?.bool ?? false

        // Vocabulary.
        var vocab = m.vocab
        vocab.finish()
        var maxID = m.maxVocabID
        for t in added { maxID = max(maxID, t.id) }

        var byteIDs = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let id = vocab.lookup([UInt8(b)])
            guard id >= 0 else {
                throw .unsupported("vocabulary lacks the byte-level token for byte 0x\(String(b, radix: 16))")
            }
            byteIDs[b] = id
        }

        // Merges, ranked by position.
        var merges = MergeTable(capacityFor: m.mergeEntries.count)
        let badMerge: Int? = m.mergeArena.withUnsafeBytes { arena in
            for (rank, e) in m.mergeEntries.enumerated() {
                let start = Int(e.start), mid = start + Int(e.leftLength), end = mid + Int(e.rightLength)
                let left = UnsafeRawBufferPointer(rebasing: arena[start..<mid])
                let right = UnsafeRawBufferPointer(rebasing: arena[mid..<end])
                let both = UnsafeRawBufferPointer(rebasing: arena[start..<end])
                let l = vocab.lookup(left), r = vocab.lookup(right), merged = vocab.lookup(both)
                guard l >= 0, r >= 0, merged >= 0 else { return rank }
                merges.insert(left: l, right: r, rank: Int32(rank), merged: merged)
            }
            return nil
        }
        if let badMerge { throw .malformed("merge #\(badMerge) uses a token missing from the vocabulary") }
        model = BytePairModel(vocab: vocab, merges: merges, byteIDs: byteIDs, ignoreMerges: ignoreMerges)
        preTokenizer = Llama3PreTokenizer()
        self.post = post

        // Added tokens.
        var ids: [String: Int32] = [:]
        var matchable: [(content: [UInt8], id: Int32)] = []
        for t in added {
            ids[t.content] = t.id
            matchable.append((Array(t.content.utf8), t.id))
        }
        addedIDs = ids
        addedMatcher = AddedTokenMatcher(tokens: matchable)

        // Decoding table: one slot per id up to the largest (the loader bounded it by the
        // file size). Each vocabulary id names one entry; an added token may share its id
        // with the vocabulary entry it stands for (GPT-2 style files list it in both), and
        // its content is what decodes.
        let count = Int(maxID) + 1
        var arena: [UInt8] = []
        var starts = [UInt32](repeating: 0, count: count)
        var lengths = [Int32](repeating: -1, count: count)
        var special = [Bool](repeating: false, count: count)
        var duplicate: Int32?
        func store(_ id: Int32, _ bytes: some Collection<UInt8>) {
            starts[Int(id)] = UInt32(arena.count)
            lengths[Int(id)] = Int32(bytes.count)
            arena.append(contentsOf: bytes)
        }
        vocab.forEach { id, bytes in
            if lengths[Int(id)] >= 0 { duplicate = duplicate ?? id }
            store(id, bytes)
        }
        for (id, utf8) in m.unmappedVocab {
            if lengths[Int(id)] >= 0 { duplicate = duplicate ?? id }
            store(id, utf8)
        }
        if let duplicate { throw .malformed("vocab id \(duplicate) is given to two entries") }
        var addedSeen = [Bool](repeating: false, count: count)
        for t in added {
            guard !addedSeen[Int(t.id)] else { throw .malformed("added token id \(t.id) is given to two tokens") }
            addedSeen[Int(t.id)] = true
            store(t.id, t.content.utf8)
            special[Int(t.id)] = t.special
        }
        for id in post.prefix + post.suffix where Int(id) >= count || lengths[Int(id)] < 0 {
            throw .malformed("post-processor adds token id \(id), which is not in the vocabulary")
        }
        decodeArena = arena
        decodeStart = starts
        decodeLength = lengths
        isSpecial = special
    }

    /// Encodes `text` (valid UTF-8) without special tokens, appending to `ids`; stops early once
    /// more than `limit` ids were produced, since truncation would drop the rest anyway.
    func encodeContent(_ text: UnsafeBufferPointer<UInt8>, limit: Int, into ids: inout [Int32]) {
        var scratch = BytePairModel.Scratch()
        var segmentStart = 0
        var i = 0
        if !addedMatcher.isEmpty {
            while i < text.count {
                if let m = addedMatcher.match(text, at: i) {
                    if !encodeSegment(text, segmentStart, i, limit: limit, into: &ids, scratch: &scratch) { return }
                    ids.append(m.id)
                    if ids.count > limit { return }
                    i += m.length
                    segmentStart = i
                } else {
                    i += 1
                }
            }
        }
        _ = encodeSegment(text, segmentStart, text.count, limit: limit, into: &ids, scratch: &scratch)
    }

    /// Pre-tokenizes and encodes text[start..<end]; false once the limit is exceeded.
    @inline(__always)
    private func encodeSegment(
        _ text: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, limit: Int,
        into ids: inout [Int32], scratch: inout BytePairModel.Scratch
    ) -> Bool {
        if start >= end { return true }
        let segment = UnsafeBufferPointer(rebasing: text[start..<end])
        var within = true
        preTokenizer.split(segment) { a, b in
            model.encode(UnsafeBufferPointer(rebasing: segment[a..<b]), into: &ids, scratch: &scratch)
            within = ids.count <= limit
            return within
        }
        return within
    }

    /// The bytes that `ids` stand for, concatenated.
    func decodeBytes(_ ids: [Int32], skipSpecialTokens: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids {
            let k = Int(id)
            guard k >= 0, k < decodeLength.count, decodeLength[k] >= 0 else { continue }  // unknown ids are skipped, as in the reference
            if skipSpecialTokens && isSpecial[k] { continue }
            let s = Int(decodeStart[k])
            out.append(contentsOf: decodeArena[s..<(s + Int(decodeLength[k]))])
        }
        return out
    }
}
