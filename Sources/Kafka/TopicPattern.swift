/// A regular expression over topic names whose matching time is linear in the name, whatever
/// the pattern: the pattern is compiled to a Thompson NFA and every position of the name is
/// visited once with the set of live states (no backtracking, so `(r[a-z]+)+-out` on sixty
/// `r`s costs what `r+` costs).
///
/// The syntax is the subset that POSIX extended expressions (librdkafka's `^pattern`
/// subscriptions) and Swift/PCRE expressions (the old `--reply-to-allow`) agree on:
/// literals, `.`, bracket classes (`[a-z0-9._-]`, `[^...]`), `\d` `\w` and escaped
/// metacharacters, groups `( )` and `(?: )`, alternation `|`, the quantifiers `*` `+` `?`
/// `{n}` `{n,}` `{n,m}` (a trailing lazy `?` is accepted: it cannot change whether a whole
/// name matches), and `^` / `$` at the very start and end. Back-references, look-around,
/// anchors inside the pattern and non-ASCII classes are refused when the pattern is compiled,
/// so an operator learns at start-up, not from a hung intake.
///
/// Names are matched as bytes (Kafka topic names are ASCII).
public struct TopicPattern: Sendable, CustomStringConvertible {
    /// The pattern as written.
    public let source: String
    private let program: [Instruction]

    /// Largest compiled program: bounds a match's cost (`name length × program`) and the
    /// expansion of counted repetition.
    public static let maxInstructions = 20_000
    /// Deepest group nesting the parser follows.
    static let maxDepth = 64

    /// Compiles `source` for whole-name matching (`--reply-to-allow`): the pattern must match
    /// the entire name; a leading `^` and a trailing `$` are allowed and change nothing.
    public init(_ source: String) throws(TopicPatternError) {
        self.source = source
        var parser = Parser(Array(source.utf8))
        let node = try parser.parseWhole()
        program = try Compiler.compile(node.node)
    }

    /// Compiles a librdkafka subscription pattern (`^mod-.*`, the `^` included): librdkafka
    /// *searches* the name for it, so unless the pattern ends with `$` anything may follow
    /// the matched part (and anything may precede it, were the `^` missing).
    public init(subscription source: String) throws(TopicPatternError) {
        self.source = source
        var parser = Parser(Array(source.utf8))
        let parsed = try parser.parseWhole()
        var parts: [Node] = []
        if !parsed.anchoredStart { parts.append(.star(.set(.all))) }
        parts.append(parsed.node)
        if !parsed.anchoredEnd { parts.append(.star(.set(.all))) }
        program = try Compiler.compile(.concat(parts))
    }

    public var description: String { source }

    /// Whether the whole of `name` matches (for a subscription pattern: whether librdkafka
    /// would subscribe to it).
    public func matches(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { matches(bytes: $0) }
    }

    /// `matches(_:)` over UTF-8 bytes. Cost: O(name.count × program size), no recursion.
    public func matches(bytes name: UnsafeBufferPointer<UInt8>) -> Bool {
        var current: [Int] = []
        var next: [Int] = []
        current.reserveCapacity(program.count)
        next.reserveCapacity(program.count)
        // `seen[pc] == generation`: pc is already in the list being built.
        var seen = [Int](repeating: -1, count: program.count)
        var stack: [Int] = []
        var generation = 0
        func add(_ start: Int, to list: inout [Int]) {
            stack.append(start)
            while let pc = stack.popLast() {
                guard seen[pc] != generation else { continue }
                seen[pc] = generation
                switch program[pc] {
                case .jump(let target): stack.append(target)
                case .split(let first, let second):
                    stack.append(second)
                    stack.append(first)
                case .byte, .match: list.append(pc)
                }
            }
        }
        add(0, to: &current)
        for byte in name {
            generation += 1
            next.removeAll(keepingCapacity: true)
            for pc in current {
                if case .byte(let set) = program[pc], set.contains(byte) { add(pc + 1, to: &next) }
            }
            swap(&current, &next)
            if current.isEmpty { return false }
        }
        return current.contains { if case .match = program[$0] { true } else { false } }
    }

    // MARK: - Compiled form

    enum Instruction: Sendable {
        /// Consume one byte in the set, go on at pc + 1.
        case byte(ByteSet)
        /// Continue at both.
        case split(Int, Int)
        case jump(Int)
        case match
    }

    /// 256 bits: which bytes a position accepts.
    struct ByteSet: Sendable, Equatable {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

        static let all: ByteSet = {
            var set = ByteSet()
            set.words = (.max, .max, .max, .max)
            return set
        }()

        static func single(_ byte: UInt8) -> ByteSet {
            var set = ByteSet()
            set.insert(byte)
            return set
        }

        static func == (a: ByteSet, b: ByteSet) -> Bool { a.words == b.words }

        func contains(_ byte: UInt8) -> Bool {
            let bit = UInt64(1) << UInt64(byte & 63)
            switch byte >> 6 {
            case 0: return words.0 & bit != 0
            case 1: return words.1 & bit != 0
            case 2: return words.2 & bit != 0
            default: return words.3 & bit != 0
            }
        }

        mutating func insert(_ byte: UInt8) {
            let bit = UInt64(1) << UInt64(byte & 63)
            switch byte >> 6 {
            case 0: words.0 |= bit
            case 1: words.1 |= bit
            case 2: words.2 |= bit
            default: words.3 |= bit
            }
        }

        mutating func insert(_ range: ClosedRange<UInt8>) {
            for byte in range { insert(byte) }
        }

        mutating func formUnion(_ other: ByteSet) {
            words = (words.0 | other.words.0, words.1 | other.words.1, words.2 | other.words.2, words.3 | other.words.3)
        }

        var inverted: ByteSet {
            var set = ByteSet()
            set.words = (~words.0, ~words.1, ~words.2, ~words.3)
            return set
        }
    }

    indirect enum Node: Sendable {
        case set(ByteSet)
        case concat([Node])
        case alternation([Node])
        case star(Node)
        case plus(Node)
        case optional(Node)
        /// `{min,max}`; `max == nil` for `{min,}`.
        case repeated(Node, min: Int, max: Int?)
    }

    // MARK: - Parser

    struct Parser {
        let bytes: [UInt8]
        var index = 0
        var depth = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        struct Parsed {
            var node: Node
            var anchoredStart: Bool
            var anchoredEnd: Bool
        }

        mutating func parseWhole() throws(TopicPatternError) -> Parsed {
            var anchoredStart = false
            if peek == UInt8(ascii: "^") {
                anchoredStart = true
                index += 1
            }
            let node = try parseAlternation()
            var anchoredEnd = false
            if peek == UInt8(ascii: "$") {
                anchoredEnd = true
                index += 1
            }
            if index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: ")") { throw fail("unbalanced ')'") }
                throw fail("'\(Character(Unicode.Scalar(byte)))' is only supported at the very start (^) or end ($)")
            }
            return Parsed(node: node, anchoredStart: anchoredStart, anchoredEnd: anchoredEnd)
        }

        private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        private func fail(_ reason: String) -> TopicPatternError {
            TopicPatternError(position: index, reason: reason)
        }

        private mutating func parseAlternation() throws(TopicPatternError) -> Node {
            depth += 1
            defer { depth -= 1 }
            guard depth <= TopicPattern.maxDepth else { throw fail("groups nested deeper than \(TopicPattern.maxDepth)") }
            var branches = [try parseConcat()]
            while peek == UInt8(ascii: "|") {
                index += 1
                branches.append(try parseConcat())
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        private mutating func parseConcat() throws(TopicPatternError) -> Node {
            var items: [Node] = []
            while let byte = peek, byte != UInt8(ascii: "|"), byte != UInt8(ascii: ")") {
                // `$` ends the pattern only at its very end; anywhere else it is refused.
                if byte == UInt8(ascii: "$"), index == bytes.count - 1 { break }
                items.append(try parseRepeat())
            }
            return items.count == 1 ? items[0] : .concat(items)
        }

        private mutating func parseRepeat() throws(TopicPatternError) -> Node {
            var node = try parseAtom()
            while let byte = peek {
                switch byte {
                case UInt8(ascii: "*"): node = .star(node)
                case UInt8(ascii: "+"): node = .plus(node)
                case UInt8(ascii: "?"): node = .optional(node)
                case UInt8(ascii: "{"):
                    let (min, max) = try parseCount()
                    node = .repeated(node, min: min, max: max)
                    try skipQuantifierSuffix()
                    continue
                default: return node
                }
                index += 1
                try skipQuantifierSuffix()
            }
            return node
        }

        /// A lazy marker after a quantifier (`*?`) matches the same whole names: skipped. A
        /// possessive one (`*+`) does not (it never gives back), so it is refused.
        private mutating func skipQuantifierSuffix() throws(TopicPatternError) {
            if peek == UInt8(ascii: "?") {
                index += 1
            } else if peek == UInt8(ascii: "+") {
                throw fail("possessive quantifiers are not supported")
            }
        }

        /// `{n}`, `{n,}`, `{n,m}` with n, m ≤ 1000.
        private mutating func parseCount() throws(TopicPatternError) -> (Int, Int?) {
            index += 1
            func number() -> Int? {
                var value = 0
                var digits = 0
                while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte), digits < 5 {
                    value = value * 10 + Int(byte - UInt8(ascii: "0"))
                    digits += 1
                    index += 1
                }
                return digits == 0 ? nil : value
            }
            guard let min = number() else { throw fail("'{' must start a count such as {2}, {2,} or {2,5}") }
            var max: Int? = min
            if peek == UInt8(ascii: ",") {
                index += 1
                max = number()
            }
            guard peek == UInt8(ascii: "}") else { throw fail("unterminated count") }
            index += 1
            guard min <= 1_000, (max ?? min) <= 1_000, min <= (max ?? min) else { throw fail("counts must be 0...1000 with min ≤ max") }
            return (min, max)
        }

        private mutating func parseAtom() throws(TopicPatternError) -> Node {
            guard let byte = peek else { throw fail("pattern ends where an atom was expected") }
            switch byte {
            case UInt8(ascii: "("):
                index += 1
                if peek == UInt8(ascii: "?") {
                    guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: ":") else {
                        throw fail("only non-capturing groups (?:...) are supported, not look-around or named groups")
                    }
                    index += 2
                }
                let inner = try parseAlternation()
                guard peek == UInt8(ascii: ")") else { throw fail("missing ')'") }
                index += 1
                return inner
            case UInt8(ascii: "["):
                return .set(try parseClass())
            case UInt8(ascii: "."):
                index += 1
                return .set(.all)
            case UInt8(ascii: "\\"):
                index += 1
                return .set(try parseEscape(inClass: false))
            case UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"), UInt8(ascii: "{"):
                throw fail("quantifier with nothing to repeat")
            case UInt8(ascii: "^"), UInt8(ascii: "$"):
                throw fail("'\(Character(Unicode.Scalar(byte)))' is only supported at the very start (^) or end ($)")
            default:
                guard byte < 0x80, byte >= 0x20 else { throw fail("only printable ASCII is supported") }
                index += 1
                return .set(.single(byte))
            }
        }

        private mutating func parseEscape(inClass: Bool) throws(TopicPatternError) -> ByteSet {
            guard let byte = peek else { throw fail("pattern ends after '\\'") }
            index += 1
            var set = ByteSet()
            switch byte {
            case UInt8(ascii: "d"), UInt8(ascii: "D"):
                set.insert(UInt8(ascii: "0")...UInt8(ascii: "9"))
                return byte == UInt8(ascii: "D") ? set.inverted : set
            case UInt8(ascii: "w"), UInt8(ascii: "W"):
                set.insert(UInt8(ascii: "0")...UInt8(ascii: "9"))
                set.insert(UInt8(ascii: "a")...UInt8(ascii: "z"))
                set.insert(UInt8(ascii: "A")...UInt8(ascii: "Z"))
                set.insert(UInt8(ascii: "_"))
                return byte == UInt8(ascii: "W") ? set.inverted : set
            default:
                // Only punctuation may be escaped: `\1`, `\b`, `\p{..}` mean something else elsewhere.
                let isPunctuation = (0x21...0x2F).contains(byte) || (0x3A...0x40).contains(byte)
                    || (0x5B...0x60).contains(byte) || (0x7B...0x7E).contains(byte)
                guard isPunctuation else { throw fail("unsupported escape '\\\(Character(Unicode.Scalar(byte)))'") }
                set.insert(byte)
            }
            return set
        }

        private mutating func parseClass() throws(TopicPatternError) -> ByteSet {
            index += 1  // [
            var negated = false
            if peek == UInt8(ascii: "^") {
                negated = true
                index += 1
            }
            var set = ByteSet()
            var first = true
            while true {
                guard let byte = peek else { throw fail("missing ']'") }
                if byte == UInt8(ascii: "]"), !first {
                    index += 1
                    break
                }
                first = false
                if byte == UInt8(ascii: "[") { throw fail("POSIX classes and nested '[' are not supported") }
                let low: UInt8
                if byte == UInt8(ascii: "\\") {
                    index += 1
                    let escaped = try parseEscape(inClass: true)
                    set.formUnion(escaped)
                    continue
                } else {
                    guard byte < 0x80, byte >= 0x20 else { throw fail("only printable ASCII is supported") }
                    low = byte
                    index += 1
                }
                if peek == UInt8(ascii: "-"), index + 1 < bytes.count, bytes[index + 1] != UInt8(ascii: "]") {
                    index += 1
                    guard let high = peek, high >= 0x20, high < 0x80, high != UInt8(ascii: "\\") else {
                        throw fail("a range must end with a printable ASCII character")
                    }
                    index += 1
                    guard low <= high else { throw fail("range out of order") }
                    set.insert(low...high)
                } else {
                    set.insert(low)
                }
            }
            return negated ? set.inverted : set
        }
    }

    // MARK: - Compiler

    enum Compiler {
        static func compile(_ node: Node) throws(TopicPatternError) -> [Instruction] {
            var program: [Instruction] = []
            try emit(node, into: &program)
            program.append(.match)
            return program
        }

        private static func emit(_ node: Node, into program: inout [Instruction]) throws(TopicPatternError) {
            guard program.count <= TopicPattern.maxInstructions else {
                throw TopicPatternError(position: 0, reason: "pattern too large once counts are expanded (over \(TopicPattern.maxInstructions) steps)")
            }
            switch node {
            case .set(let set):
                program.append(.byte(set))
            case .concat(let items):
                for item in items { try emit(item, into: &program) }
            case .alternation(let branches):
                var jumps: [Int] = []
                for (number, branch) in branches.enumerated() {
                    if number < branches.count - 1 {
                        let split = program.count
                        program.append(.split(split + 1, -1))
                        try emit(branch, into: &program)
                        jumps.append(program.count)
                        program.append(.jump(-1))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(branch, into: &program)
                    }
                }
                for jump in jumps { program[jump] = .jump(program.count) }
            case .star(let inner):
                let split = program.count
                program.append(.split(split + 1, -1))
                try emit(inner, into: &program)
                program.append(.jump(split))
                program[split] = .split(split + 1, program.count)
            case .plus(let inner):
                let start = program.count
                try emit(inner, into: &program)
                program.append(.split(start, program.count + 1))
            case .optional(let inner):
                let split = program.count
                program.append(.split(split + 1, -1))
                try emit(inner, into: &program)
                program[split] = .split(split + 1, program.count)
            case .repeated(let inner, let min, let max):
                for _ in 0..<min { try emit(inner, into: &program) }
                if let max {
                    for _ in min..<max { try emit(.optional(inner), into: &program) }
                } else {
                    try emit(.star(inner), into: &program)
                }
            }
        }
    }
}
