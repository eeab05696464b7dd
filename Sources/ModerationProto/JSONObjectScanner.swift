/// Reads the top level of a JSON object: each member's name and, for its value, either the
/// decoded string or the exact byte range of anything else.
///
/// Why not `JSONSerialization`: a structured CloudEvent's `data` must reach the protobuf
/// JSON decoder as the producer wrote it (re-serializing a parsed tree changes number
/// spellings and costs a second tree); the attributes need only their strings. This
/// scanner validates the whole text (RFC 8259 grammar, nesting bounded by `maxDepth`, so a
/// hostile `[[[[...` cannot exhaust the stack) in one pass without building a tree.
struct JSONObjectScanner {
    /// A member's value.
    enum Value: Equatable {
        /// A string, unescaped.
        case string(String)
        /// Anything else (object, array, number, `true`, `false`, `null`), as the range of its
        /// bytes in the input and its kind.
        case other(Range<Int>, Kind)
    }

    enum Kind: Equatable { case object, array, string, number, bool, null }

    struct Failure: Error, Equatable {
        let detail: String
    }

    private let bytes: [UInt8]
    private let maxDepth: Int
    private var position = 0

    private init(_ bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// The members of the object that is the whole of `bytes`, in order. Fails on anything
    /// that is not exactly one valid JSON object, or nests deeper than `maxDepth`.
    static func members(of bytes: [UInt8], maxDepth: Int) throws(Failure) -> [(name: String, value: Value)] {
        var scanner = JSONObjectScanner(bytes, maxDepth: maxDepth)
        scanner.skipWhitespace()
        guard scanner.peek == UInt8(ascii: "{") else {
            throw Failure(detail: scanner.peek == nil ? "empty value" : "top-level JSON value is not an object")
        }
        scanner.position += 1
        var members: [(name: String, value: Value)] = []
        scanner.skipWhitespace()
        if scanner.peek == UInt8(ascii: "}") {
            scanner.position += 1
        } else {
            while true {
                scanner.skipWhitespace()
                guard scanner.peek == UInt8(ascii: "\"") else { throw scanner.failure("expected a member name") }
                let name = try scanner.string()
                scanner.skipWhitespace()
                try scanner.expect(UInt8(ascii: ":"))
                scanner.skipWhitespace()
                let value: Value
                if scanner.peek == UInt8(ascii: "\"") {
                    value = .string(try scanner.string())
                } else {
                    let start = scanner.position
                    let kind = try scanner.skipValue(depth: 1)
                    value = .other(start..<scanner.position, kind)
                }
                members.append((name, value))
                scanner.skipWhitespace()
                if scanner.peek == UInt8(ascii: ",") {
                    scanner.position += 1
                    continue
                }
                try scanner.expect(UInt8(ascii: "}"))
                break
            }
        }
        scanner.skipWhitespace()
        guard scanner.position == bytes.count else { throw scanner.failure("text after the object") }
        return members
    }

    // MARK: Grammar

    private var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func failure(_ what: String) -> Failure {
        Failure(detail: "\(what) at byte \(position)")
    }

    private mutating func skipWhitespace() {
        while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        guard peek == byte else { throw failure("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    /// Skips one value that is not at the top level; `depth` is the nesting of its container.
    private mutating func skipValue(depth: Int) throws(Failure) -> Kind {
        guard let byte = peek else { throw failure("value missing") }
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < maxDepth else { throw failure("nesting deeper than \(maxDepth)") }
            let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            position += 1
            skipWhitespace()
            if peek == close {
                position += 1
            } else {
                while true {
                    skipWhitespace()
                    if byte == UInt8(ascii: "{") {
                        guard peek == UInt8(ascii: "\"") else { throw failure("expected a member name") }
                        try skipString()
                        skipWhitespace()
                        try expect(UInt8(ascii: ":"))
                        skipWhitespace()
                    }
                    _ = try skipValue(depth: depth + 1)
                    skipWhitespace()
                    if peek == UInt8(ascii: ",") {
                        position += 1
                        continue
                    }
                    try expect(close)
                    break
                }
            }
            return byte == UInt8(ascii: "{") ? .object : .array
        case UInt8(ascii: "\""):
            try skipString()
            return .string
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try number()
            return .number
        default:
            throw failure("unexpected byte 0x\(String(byte, radix: 16))")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw failure("truncated literal") }
        let matches = word.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[position + $0] == expected[$0] }
        }
        guard matches else { throw failure("invalid literal") }
        position += count
    }

    private mutating func digits() -> Int {
        let start = position
        while let byte = peek, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
        return position - start
    }

    private mutating func number() throws(Failure) {
        if peek == UInt8(ascii: "-") { position += 1 }
        if peek == UInt8(ascii: "0") {
            position += 1
        } else {
            guard digits() > 0 else { throw failure("invalid number") }
        }
        if peek == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw failure("invalid number") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            position += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw failure("invalid number") }
        }
    }

    /// Skips a string, checking its escapes, without decoding it.
    private mutating func skipString() throws(Failure) {
        _ = try scanString(decode: false)
    }

    /// Decodes a string. The input is valid UTF-8 (checked by the caller), so bytes between
    /// escapes are copied as they are.
    private mutating func string() throws(Failure) -> String {
        try scanString(decode: true) ?? ""
    }

    private mutating func scanString(decode: Bool) throws(Failure) -> String? {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes, the string is a slice of the input.
        while let byte = peek, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
            guard byte >= 0x20 else { throw failure("control character in string") }
            position += 1
        }
        guard let stop = peek else { throw failure("unterminated string") }
        if stop == UInt8(ascii: "\"") {
            position += 1
            return decode ? String(decoding: bytes[start..<(position - 1)], as: UTF8.self) : nil
        }
        var out: [UInt8] = decode ? Array(bytes[start..<position]) : []
        while true {
            guard let byte = peek else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return decode ? String(decoding: out, as: UTF8.self) : nil
            case UInt8(ascii: "\\"):
                position += 1
                guard let escaped = peek else { throw failure("unterminated escape") }
                position += 1
                let simple: UInt8?
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): simple = escaped
                case UInt8(ascii: "b"): simple = 0x08
                case UInt8(ascii: "f"): simple = 0x0C
                case UInt8(ascii: "n"): simple = 0x0A
                case UInt8(ascii: "r"): simple = 0x0D
                case UInt8(ascii: "t"): simple = 0x09
                case UInt8(ascii: "u"): simple = nil
                default: throw failure("invalid escape")
                }
                if let simple {
                    if decode { out.append(simple) }
                    continue
                }
                var scalar = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(scalar) {
                    guard peek == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u")
                    else { throw failure("unpaired surrogate escape") }
                    position += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw failure("unpaired surrogate escape")
                }
                if decode, let unicode = Unicode.Scalar(scalar) {
                    out.append(contentsOf: String(Character(unicode)).utf8)
                }
            case 0x00..<0x20:
                throw failure("control character in string")
            default:
                if decode { out.append(byte) }
                position += 1
            }
        }
    }

    private mutating func hex4() throws(Failure) -> UInt16 {
        guard position + 4 <= bytes.count else { throw failure("truncated \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | UInt16(digit)
            position += 1
        }
        return value
    }
}
