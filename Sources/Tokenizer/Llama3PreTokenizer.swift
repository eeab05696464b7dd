/// The Llama-3 pre-tokenizer: splits text into the pieces that the split pattern
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// matches (behaviour `Isolated`: every match is a piece of its own), by a hand-written scanner
/// over the Unicode scalars of UTF-8 bytes rather than a regex engine: one pass, no allocation,
/// and each alternative's backtracking written out explicitly (see `nextPieceEnd`).
struct Llama3PreTokenizer: Sendable {
    /// The pattern this scanner implements, exactly as it appears in tokenizer.json.
    static let pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    private let classes: [ScalarClass]

    init() {
        classes = ScalarClass.bmpTable
    }

    /// Calls `body(start, end)` for each piece of `text` (valid UTF-8), in order; the pieces
    /// cover the text exactly.
    @inline(__always)
    func split(_ text: UnsafeBufferPointer<UInt8>, _ body: (Int, Int) -> Bool) {
        classes.withUnsafeBufferPointer { table in
            var i = 0
            while i < text.count {
                let end = Self.nextPieceEnd(text, from: i, table: table)
                if !body(i, end) { return }
                i = end
            }
        }
    }

    @inline(__always)
    private static func isCRLF(_ v: UInt32) -> Bool { v == 0x0A || v == 0x0D }

    /// The end of the piece starting at `i`: the first alternative of the pattern that matches
    /// at `i`, with the extent the backtracking regex would give it.
    static func nextPieceEnd(_ p: UnsafeBufferPointer<UInt8>, from i: Int, table: UnsafeBufferPointer<ScalarClass>) -> Int {
        let n = p.count
        let (c, len) = UTF8Validation.decode(p, at: i)
        let cls = ScalarClass.of(c, bmp: table)

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if c == 0x27, let m = contractionLength(p, at: i + 1) {
            return i + 1 + m
        }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        if cls == .letter {
            return endOfRun(p, from: i + len, of: .letter, table: table)
        }
        if cls != .number, !isCRLF(c), i + len < n {
            let (c2, len2) = UTF8Validation.decode(p, at: i + len)
            if ScalarClass.of(c2, bmp: table) == .letter {
                return endOfRun(p, from: i + len + len2, of: .letter, table: table)
            }
        }
        // 3. \p{N}{1,3}
        if cls == .number {
            var j = i + len
            for _ in 0..<2 where j < n {
                let (c2, len2) = UTF8Validation.decode(p, at: j)
                guard ScalarClass.of(c2, bmp: table) == .number else { break }
                j += len2
            }
            return j
        }
        // 4.  ?[^\s\p{L}\p{N}]+[\r\n]*
        var othersStart = -1
        if cls == .other {
            othersStart = i
        } else if c == 0x20, i + 1 < n {
            let (c2, _) = UTF8Validation.decode(p, at: i + 1)
            if ScalarClass.of(c2, bmp: table) == .other { othersStart = i + 1 }
        }
        if othersStart >= 0 {
            var j = endOfRun(p, from: othersStart, of: .other, table: table)
            while j < n, p[j] == 0x0A || p[j] == 0x0D { j += 1 }
            return j
        }
        // Here c is whitespace. Find the whole run, its last CR/LF and its last scalar.
        var j = i
        var afterLastCRLF = -1
        var lastStart = i
        while j < n {
            let (c2, len2) = UTF8Validation.decode(p, at: j)
            guard ScalarClass.of(c2, bmp: table) == .whitespace else { break }
            if isCRLF(c2) { afterLastCRLF = j + 1 }
            lastStart = j
            j += len2
        }
        // 5. \s*[\r\n]+ : \s* backs off to the last CR/LF of the run.
        if afterLastCRLF >= 0 { return afterLastCRLF }
        // 6. \s+(?!\S) : all of the run at the end of the text, else all but its last scalar.
        if j == n { return j }
        if lastStart > i { return lastStart }
        // 7. \s+
        return j
    }

    /// Length (after the apostrophe) of a contraction suffix at `k`, matched case-insensitively
    /// like the reference: Unicode case folding also maps U+017F LATIN SMALL LETTER LONG S to "s".
    @inline(__always)
    private static func contractionLength(_ p: UnsafeBufferPointer<UInt8>, at k: Int) -> Int? {
        guard k < p.count else { return nil }
        let b = p[k] | 0x20  // ASCII lower-case (only compared against letters)
        switch b {
        case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
            return 1
        case UInt8(ascii: "r"), UInt8(ascii: "v"):
            if k + 1 < p.count, p[k + 1] | 0x20 == UInt8(ascii: "e") { return 2 }
            return nil
        case UInt8(ascii: "l"):
            if k + 1 < p.count, p[k + 1] | 0x20 == UInt8(ascii: "l") { return 2 }
            return nil
        default:
            // U+017F is C5 BF in UTF-8. (0xC5 | 0x20 == 0xE5, so test the raw byte.)
            if p[k] == 0xC5, k + 1 < p.count, p[k + 1] == 0xBF { return 2 }
            return nil
        }
    }

    @inline(__always)
    private static func endOfRun(
        _ p: UnsafeBufferPointer<UInt8>, from start: Int, of wanted: ScalarClass, table: UnsafeBufferPointer<ScalarClass>
    ) -> Int {
        var j = start
        while j < p.count {
            let (c, len) = UTF8Validation.decode(p, at: j)
            guard ScalarClass.of(c, bmp: table) == wanted else { break }
            j += len
        }
        return j
    }
}
