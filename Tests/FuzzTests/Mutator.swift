import TestSupport

/// The mutation engine: turns a corpus input into a nearby, usually broken, variant.
///
/// Plain (no coverage feedback), in the spirit of libFuzzer's and AFL's havoc stage: each
/// case stacks a few mutations chosen at random. The ones that matter for parsers of
/// lengths, counts and numbers are the interesting integers (binary, both byte orders, and
/// as decimal text) and truncation; dictionary tokens let JSON inputs keep their shape.
struct Mutator {
    enum Operation: CaseIterable {
        case flipBit
        case randomByte
        case interestingByte
        case interestingWord
        case arithmetic
        case insertBytes
        case insertRun
        case deleteRange
        case copyRange
        case splice
        case truncate
        case dictionaryToken
        case decimalNumber
        case swapBytes
    }

    var rng: SplitMix64
    /// Tokens of the input's language (JSON punctuation, key names, header values...).
    let dictionary: [[UInt8]]
    /// Inputs are cut to this length.
    let maxLength: Int

    init(seed: UInt64, dictionary: [[UInt8]], maxLength: Int) {
        rng = SplitMix64(seed: seed)
        self.dictionary = dictionary
        self.maxLength = max(1, maxLength)
    }

    static let interesting8: [UInt8] = [0, 1, 0x20, 0x22, 0x2C, 0x30, 0x39, 0x5C, 0x7B, 0x7D, 0x7F, 0x80, 0xC0, 0xED, 0xF4, 0xFE, 0xFF]
    static let interesting64: [UInt64] = [
        0, 1, 2, 7, 8, 16, 31, 32, 33, 64, 255, 256, 4096, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, 1 << 40, 1 << 62, 0x7FFF_FFFF_FFFF_FFFF,
        0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFF8, 0xFFFF_FFFF_FFFF_FFFF,
    ]
    /// Numbers as JSON text: boundaries of every integer width, exponents, fractions.
    static let decimalNumbers: [String] = [
        "0", "-0", "1", "-1", "2", "31", "32", "255", "256", "65535", "65536", "2147483647", "2147483648",
        "-2147483649", "4294967295", "4294967296", "9007199254740993", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e308", "1e309",
        "-1e309", "1e-400", "0.5", "1.0", "1e2", "128001", "16777216", "1099511627776",
    ]

    /// One case: `input` with 1 to 8 stacked mutations (mostly 1 or 2).
    mutating func mutate(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
        var data = input
        var rounds = 1
        while rounds < 8, rng.oneIn(2) { rounds += 1 }
        for _ in 0 ..< rounds {
            let op = Operation.allCases[rng.below(Operation.allCases.count)]
            apply(op, to: &data, corpus: corpus)
        }
        if data.count > maxLength { data.removeLast(data.count - maxLength) }
        return data
    }

    mutating func apply(_ op: Operation, to data: inout [UInt8], corpus: [[UInt8]]) {
        switch op {
        case .flipBit:
            guard !data.isEmpty else { return insertBytes(&data) }
            data[rng.below(data.count)] ^= 1 << UInt8(rng.below(8))
        case .randomByte:
            guard !data.isEmpty else { return insertBytes(&data) }
            data[rng.below(data.count)] = UInt8(truncatingIfNeeded: rng.next())
        case .interestingByte:
            guard !data.isEmpty else { return insertBytes(&data) }
            data[rng.below(data.count)] = Self.interesting8[rng.below(Self.interesting8.count)]
        case .interestingWord:
            let width = [2, 4, 8][rng.below(3)]
            guard data.count >= width else { return insertBytes(&data) }
            var value = Self.interesting64[rng.below(Self.interesting64.count)]
            if rng.oneIn(4) { value = ~value &+ 1 } // negated
            let at = rng.below(data.count - width + 1)
            let bigEndian = rng.oneIn(4)
            for k in 0 ..< width {
                let shift = UInt64(bigEndian ? width - 1 - k : k) * 8
                data[at + k] = UInt8(truncatingIfNeeded: value >> shift)
            }
        case .arithmetic:
            guard !data.isEmpty else { return insertBytes(&data) }
            let at = rng.below(data.count)
            let delta = UInt8(1 + rng.below(16))
            data[at] = rng.oneIn(2) ? data[at] &+ delta : data[at] &- delta
        case .insertBytes:
            insertBytes(&data)
        case .insertRun:
            // A long run: deep nesting ("[[[["), long words, long digit strings.
            let byte = rng.oneIn(2) && !data.isEmpty ? data[rng.below(data.count)] : UInt8(truncatingIfNeeded: rng.next())
            let length = rng.oneIn(8) ? 1 + rng.below(4096) : 1 + rng.below(64)
            data.insert(contentsOf: repeatElement(byte, count: length), at: rng.below(data.count + 1))
        case .deleteRange:
            guard !data.isEmpty else { return }
            let at = rng.below(data.count)
            let length = 1 + rng.below(min(64, data.count - at))
            data.removeSubrange(at ..< at + length)
        case .copyRange:
            guard !data.isEmpty else { return }
            let from = rng.below(data.count)
            let length = 1 + rng.below(min(128, data.count - from))
            let chunk = Array(data[from ..< from + length])
            let to = rng.below(data.count + 1)
            if rng.oneIn(2) {
                data.insert(contentsOf: chunk, at: to)
            } else {
                let end = min(data.count, to + length)
                data.replaceSubrange(to ..< end, with: chunk)
            }
        case .splice:
            guard let other = corpus.isEmpty ? nil : corpus[rng.below(corpus.count)], !other.isEmpty else { return }
            let cut = rng.below(data.count + 1)
            let otherCut = rng.below(other.count)
            data = Array(data[..<cut]) + other[otherCut...]
        case .truncate:
            guard !data.isEmpty else { return }
            data.removeLast(1 + rng.below(data.count))
        case .dictionaryToken:
            guard !dictionary.isEmpty else { return insertBytes(&data) }
            let token = dictionary[rng.below(dictionary.count)]
            let at = rng.below(data.count + 1)
            if rng.oneIn(2) || at == data.count {
                data.insert(contentsOf: token, at: at)
            } else {
                data.replaceSubrange(at ..< min(data.count, at + token.count), with: token)
            }
        case .decimalNumber:
            replaceNumber(&data)
        case .swapBytes:
            guard data.count >= 2 else { return }
            data.swapAt(rng.below(data.count), rng.below(data.count))
        }
    }

    private mutating func insertBytes(_ data: inout [UInt8]) {
        let count = 1 + rng.below(16)
        let bytes = (0 ..< count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.insert(contentsOf: bytes, at: rng.below(data.count + 1))
    }

    /// Replaces the next run of digits (after a random point) with a boundary number,
    /// or inserts one where there is none.
    private mutating func replaceNumber(_ data: inout [UInt8]) {
        let number = Array(Self.decimalNumbers[rng.below(Self.decimalNumbers.count)].utf8)
        let isDigit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        let from = data.isEmpty ? 0 : rng.below(data.count)
        guard let start = data[from...].firstIndex(where: isDigit) else {
            data.insert(contentsOf: number, at: from)
            return
        }
        var end = start
        while end < data.count, isDigit(data[end]) || data[end] == UInt8(ascii: ".") || data[end] == UInt8(ascii: "-") {
            end += 1
        }
        let negative = start > 0 && data[start - 1] == UInt8(ascii: "-")
        data.replaceSubrange((negative ? start - 1 : start) ..< end, with: number)
    }
}
