import Crypto

/// The key of a cached score: SHA-256 over what decides a text's logits, so two texts share
/// a key only when the model would give them the same numbers.
///
/// What goes in (`ScoreDigester`): the model's content hash (`duoguard.content_hash`, over the
/// tensor data) and how its weights are held (`ModelIdentity.quantization`, which names a
/// load-time requantization such as `Q8_R from Q8_0`: different integer weights, different
/// logits); the scoring settings that change the model's input (`TextScoring`: truncation
/// length, long-text mode, window overlap, window limit); and the text's UTF-8 bytes. Not in
/// it: thresholds (applied after the cache), batch settings (padding-free batching scores a
/// sequence the same in any batch), the kernel (fixed per process). The tokenizer is the
/// model file's own, or a fixed `--tokenizer` for the process's life.
///
/// The digest is all that is kept: the text itself is never stored.
public struct ScoreDigest: Hashable, Sendable {
    /// The 32 bytes of the SHA-256, as four words (cheap to hash and compare).
    public let words: (UInt64, UInt64, UInt64, UInt64)

    public init(_ words: (UInt64, UInt64, UInt64, UInt64)) {
        self.words = words
    }

    /// Bytes of a digest held in memory.
    public static let byteCount = 32

    public static func == (a: ScoreDigest, b: ScoreDigest) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// Makes `ScoreDigest`s for one model and one set of scoring settings: the fixed part is
/// encoded once (a hash state is not `Sendable`, its ~150 bytes are), each text is hashed
/// after it.
public struct ScoreDigester: Sendable {
    private let prefix: [UInt8]

    public init(model: ModelIdentity, scoring: TextScoring) {
        self.init(contentHash: model.contentHash, quantization: model.quantization, scoring: scoring)
    }

    /// `contentHash` and `quantization` as `ModelIdentity` reports them.
    public init(contentHash: String, quantization: String, scoring: TextScoring) {
        var prefix: [UInt8] = []
        // Length-prefixed fields, so no two field lists hash the same bytes.
        let fields = [
            "duoguard-score-v1", contentHash, quantization, "\(scoring.maxTokens)", scoring.longText.rawValue,
            "\(scoring.windowOverlap)", "\(scoring.maxWindows)",
        ]
        for field in fields {
            withUnsafeBytes(of: UInt64(field.utf8.count).littleEndian) { prefix += $0 }
            prefix += Array(field.utf8)
        }
        self.prefix = prefix
    }

    /// The digest of `text` under this model and these settings.
    public func digest(_ text: String) -> ScoreDigest {
        var hasher = SHA256()
        prefix.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        var text = text
        text.withUTF8 { bytes in
            Self.update(&hasher, length: bytes.count)
            hasher.update(bufferPointer: UnsafeRawBufferPointer(bytes))
        }
        var words: [UInt64] = []
        words.reserveCapacity(4)
        hasher.finalize().withUnsafeBytes { raw in
            for index in 0..<4 {
                var word: UInt64 = 0
                for byte in raw[(index * 8)..<(index * 8 + 8)] { word = word << 8 | UInt64(byte) }
                words.append(word)
            }
        }
        return ScoreDigest((words[0], words[1], words[2], words[3]))
    }

    private static func update(_ hasher: inout SHA256, length: Int) {
        withUnsafeBytes(of: UInt64(length).littleEndian) { hasher.update(bufferPointer: $0) }
    }
}
