/// A minimal pull parser over the bytes of a JSON document (RFC 8259).
///
/// Why not `JSONSerialization`/`Codable`: a Llama-3 tokenizer.json holds 128 k vocab entries and
/// 280 k merges; materialising them as Foundation objects costs more than this whole loader.
/// Measured (bench/tokenizer/json-compare.sh, docs/tokenizer.md): the full load takes ~150 ms of
/// CPU and 49-51 MiB peak RSS with this reader, ~570-610 ms and 74-178 MiB with
/// `JSONSerialization` feeding the same tables, whose parse alone takes 210-310 ms. This reader streams the two big
/// sections as decoded bytes into the tables and builds `JSONValue`s only for the small ones.
struct JSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private(set) var position = 0
    /// Nesting limit, so that hostile input cannot overflow the stack: each level costs a few
    /// recursive calls (a few kB of stack in a debug build), and a test runs the reader at
    /// this depth on a 256 KiB thread stack. A tokenizer.json nests 6 levels deep.
    static let maxDepth = 64
    private var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// Bytes not read yet: an upper bound on what the rest of the document can define.
    var remaining: Int { bytes.count - position }

    // MARK: - Low level

    private func error(_ what: String) -> TokenizerError {
        .malformed("\(what) at byte \(position)")
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// The next significant byte, without consuming it; nil at the end.
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return position < bytes.count ? bytes[position] : nil
    }

    mutating func expect(_ byte: UInt8) throws(TokenizerError) {
        guard peek() == byte else {
            throw error("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        position += 1
    }

    /// Consumes the end of the document; trailing garbage is an error.
    mutating func expectEnd() throws(TokenizerError) {
        if peek() != nil { throw error("unexpected data after the JSON value") }
    }

    private mutating func consumeLiteral(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard position + n <= bytes.count else { return false }
        let p = literal.utf8Start
        for k in 0..<n where bytes[position + k] != p[k] { return false }
        position += n
        return true
    }

    /// Consumes `null` if it comes next.
    mutating func consumeNull() -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        return consumeLiteral("null")
    }

    // MARK: - Containers

    /// Reads an object, calling `body` with each key; `body` must consume the value.
    mutating func readObject(
        _ body: (inout JSONReader, String) throws(TokenizerError) -> Void
    ) throws(TokenizerError) {
        var key: [UInt8] = []
        try readObjectRawKeys({ (reader: inout JSONReader, raw: [UInt8]) throws(TokenizerError) in
            try body(&reader, String(decoding: raw, as: UTF8.self))
        }, scratch: &key)
    }

    /// Reads an object whose keys are delivered as decoded UTF-8 bytes (no `String` made).
    mutating func readObjectRawKeys(
        _ body: (inout JSONReader, [UInt8]) throws(TokenizerError) -> Void,
        scratch key: inout [UInt8]
    ) throws(TokenizerError) {
        try expect(UInt8(ascii: "{"))
        try enter()
        if peek() == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return
        }
        while true {
            key.removeAll(keepingCapacity: true)
            try readString(into: &key)
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                depth -= 1
                return
            default: throw error("expected ',' or '}' in object")
            }
        }
    }

    /// Reads an array, calling `body` once per element; `body` must consume the element.
    mutating func readArray(_ body: (inout JSONReader) throws(TokenizerError) -> Void) throws(TokenizerError) {
        try expect(UInt8(ascii: "["))
        try enter()
        if peek() == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return
        }
        while true {
            try body(&self)
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                depth -= 1
                return
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    private mutating func enter() throws(TokenizerError) {
        depth += 1
        if depth > Self.maxDepth { throw error("nesting too deep (more than \(Self.maxDepth) levels)") }
    }

    // MARK: - Scalars

    /// Appends the decoded UTF-8 bytes of the next string to `out`.
    mutating func readString(into out: inout [UInt8]) throws(TokenizerError) {
        try expect(UInt8(ascii: "\""))
        while true {
            // Copy the longest run of plain bytes in one go.
            let runStart = position
            while position < bytes.count {
                let b = bytes[position]
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b < 0x20 { break }
                position += 1
            }
            if position > runStart {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<position]))
            }
            guard position < bytes.count else { throw error("unterminated string") }
            let b = bytes[position]
            if b == UInt8(ascii: "\"") {
                position += 1
                return
            }
            if b < 0x20 { throw error("control character in string") }
            // Escape sequence.
            position += 1
            guard position < bytes.count else { throw error("unterminated escape") }
            let e = bytes[position]
            position += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try readHex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard consumeLiteral("\\u") else { throw error("lone surrogate escape") }
                    let low = try readHex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("invalid surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw error("lone surrogate escape")
                }
                guard let s = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                UTF8Validation.append(s.value, to: &out)
            default:
                throw error("invalid escape")
            }
        }
    }

    private mutating func readHex4() throws(TokenizerError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            position += 1
        }
        return v
    }

    mutating func readString() throws(TokenizerError) -> String {
        var buffer: [UInt8] = []
        try readString(into: &buffer)
        // JSON text is UTF-8; invalid bytes inside a string are a malformed file.
        guard let s = String(validating: buffer, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return s
    }

    /// Reads an integer (the form of every id and rank in tokenizer.json).
    mutating func readInt() throws(TokenizerError) -> Int {
        skipWhitespace()
        var negative = false
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        let start = position
        var v = 0
        while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 {
            if v > (Int.max - 9) / 10 { throw error("integer out of range") }
            v = v * 10 + Int(bytes[position] - 0x30)
            position += 1
        }
        if position == start { throw error("expected an integer") }
        if position < bytes.count,
           [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[position]) {
            throw error("expected an integer, found a fraction")
        }
        return negative ? -v : v
    }

    private mutating func readNumber() throws(TokenizerError) -> Double {
        skipWhitespace()
        let start = position
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"),
                 UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                position += 1
            default:
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                guard let d = Double(text) else { throw error("invalid number") }
                return d
            }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let d = Double(text) else { throw error("invalid number") }
        return d
    }

    /// Reads any value into a tree.
    mutating func readValue() throws(TokenizerError) -> JSONValue {
        switch peek() {
        case UInt8(ascii: "{"):
            var fields: [String: JSONValue] = [:]
            try readObject { (reader: inout JSONReader, key: String) throws(TokenizerError) in
                fields[key] = try reader.readValue()
            }
            return .object(fields)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            try readArray { (reader: inout JSONReader) throws(TokenizerError) in
                items.append(try reader.readValue())
            }
            return .array(items)
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "t"):
            if consumeLiteral("true") { return .bool(true) }
        case UInt8(ascii: "f"):
            if consumeLiteral("false") { return .bool(false) }
        case UInt8(ascii: "n"):
            if consumeLiteral("null") { return .null }
        case .some(let c) where c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39):
            return .number(try readNumber())
        case nil:
            throw error("unexpected end of data")
        default:
            break
        }
        throw error("unexpected character")
    }

    /// Skips any value (e.g. unknown fields), checking it is well formed.
    mutating func skipValue() throws(TokenizerError) {
        _ = try readValue()
    }
}
