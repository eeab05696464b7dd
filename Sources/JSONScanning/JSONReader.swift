/// A pull parser over the bytes of a JSON text (RFC 8259): the one JSON grammar of the
/// project, shared by the tokenizer loader and the envelope layer (structured CloudEvents).
///
/// Why not `JSONSerialization`/`Codable`: a Llama-3 tokenizer.json holds 128 k vocab entries and
/// 280 k merges; materialising them as Foundation objects costs more than the whole tokenizer
/// load. Measured (bench/tokenizer/json-compare.sh, docs/tokenizer.md): the full load takes ~150 ms of
/// CPU and 49-51 MiB peak RSS with this reader, ~570-610 ms and 74-178 MiB with
/// `JSONSerialization` feeding the same tables, whose parse alone takes 210-310 ms. A caller
/// streams big sections as decoded bytes (`readObjectRawKeys`, `readString(into:)`), builds
/// `JSONValue`s only for small ones, and can validate a value without decoding it
/// (`skipValue`, which returns its kind; `position` before and after gives its exact bytes,
/// which is how a CloudEvent's `data` reaches the protobuf JSON decoder as it was written).
///
/// Generic over the caller's error type (`JSONSyntaxFailure`), so that the closures given to
/// `readObject`/`readArray` throw the caller's own errors through the reader. Everything is
/// `@inlinable` so the loops are specialised and inlined into the caller's module: the
/// tokenizer calls `readString(into:)` 400 k times per load.
///
/// Hostile input: every read is bounds-checked, nesting is limited (`maxDepth`), strings are
/// checked for control characters, escapes and surrogate pairs, numbers against the grammar.
/// Bytes between escapes are copied as they are: a caller that needs valid UTF-8 checks the
/// whole text (or uses `readString()`, which validates).
public struct JSONReader<Failure: JSONSyntaxFailure> {
    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var offset = 0
    @usableFromInline var depth = 0
    /// The deepest nesting accepted (the outermost container is level 1).
    public let maxDepth: Int

    /// Nesting limit by default, so that hostile input cannot overflow the stack: each level
    /// costs a few recursive calls (a few kB of stack in a debug build), and a test runs the
    /// tokenizer loader at this depth on a 256 KiB thread stack. A tokenizer.json nests 6 levels deep.
    public static var defaultMaxDepth: Int { 64 }

    @inlinable
    public init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = Self.defaultMaxDepth) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    /// The index of the next byte to read.
    @inlinable public var position: Int { offset }

    /// Bytes not read yet: an upper bound on what the rest of the document can define.
    @inlinable public var remaining: Int { bytes.count - offset }

    // MARK: - Low level

    @inlinable
    func error(_ what: String) -> Failure {
        .jsonSyntax(what, at: offset)
    }

    @inlinable
    public mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    /// The next significant byte, without consuming it; nil at the end.
    @inlinable
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    @inlinable
    public mutating func expect(_ byte: UInt8) throws(Failure) {
        guard peek() == byte else {
            throw error("expected '\(Character(Unicode.Scalar(byte)))'")
        }
        offset += 1
    }

    /// Consumes the end of the document; trailing garbage is an error.
    @inlinable
    public mutating func expectEnd() throws(Failure) {
        if peek() != nil { throw error("unexpected data after the JSON value") }
    }

    @inlinable
    mutating func consumeLiteral(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard offset + n <= bytes.count else { return false }
        let p = literal.utf8Start
        for k in 0..<n where bytes[offset + k] != p[k] { return false }
        offset += n
        return true
    }

    /// Consumes `null` if it comes next.
    @inlinable
    public mutating func consumeNull() -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        return consumeLiteral("null")
    }

    // MARK: - Containers

    /// Reads an object, calling `body` with each key; `body` must consume the value.
    @inlinable
    public mutating func readObject(
        _ body: (inout JSONReader, String) throws(Failure) -> Void
    ) throws(Failure) {
        var key: [UInt8] = []
        try readObjectRawKeys({ (reader: inout JSONReader, raw: [UInt8]) throws(Failure) in
            try body(&reader, String(decoding: raw, as: UTF8.self))
        }, scratch: &key)
    }

    /// Reads an object whose keys are delivered as decoded UTF-8 bytes (no `String` made).
    @inlinable
    public mutating func readObjectRawKeys(
        _ body: (inout JSONReader, [UInt8]) throws(Failure) -> Void,
        scratch key: inout [UInt8]
    ) throws(Failure) {
        try expect(UInt8(ascii: "{"))
        try enter()
        if peek() == UInt8(ascii: "}") {
            offset += 1
            depth -= 1
            return
        }
        while true {
            key.removeAll(keepingCapacity: true)
            try readString(into: &key)
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"):
                offset += 1
                depth -= 1
                return
            default: throw error("expected ',' or '}' in object")
            }
        }
    }

    /// Reads an array, calling `body` once per element; `body` must consume the element.
    @inlinable
    public mutating func readArray(_ body: (inout JSONReader) throws(Failure) -> Void) throws(Failure) {
        try expect(UInt8(ascii: "["))
        try enter()
        if peek() == UInt8(ascii: "]") {
            offset += 1
            depth -= 1
            return
        }
        while true {
            try body(&self)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"):
                offset += 1
                depth -= 1
                return
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    @inlinable
    mutating func enter() throws(Failure) {
        depth += 1
        if depth > maxDepth { throw error("nesting too deep (more than \(maxDepth) levels)") }
    }

    // MARK: - Scalars

    /// Appends the decoded UTF-8 bytes of the next string to `out`.
    @inlinable
    public mutating func readString(into out: inout [UInt8]) throws(Failure) {
        try expect(UInt8(ascii: "\""))
        while true {
            // Copy the longest run of plain bytes in one go.
            let runStart = offset
            while offset < bytes.count {
                let b = bytes[offset]
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b < 0x20 { break }
                offset += 1
            }
            if offset > runStart {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<offset]))
            }
            guard offset < bytes.count else { throw error("unterminated string") }
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                offset += 1
                return
            }
            if b < 0x20 { throw error("control character in string") }
            // Escape sequence.
            offset += 1
            guard offset < bytes.count else { throw error("unterminated escape") }
            let e = bytes[offset]
            offset += 1
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
                UTF8.encode(s) { out.append($0) }
            default:
                throw error("invalid escape")
            }
        }
    }

    @inlinable
    mutating func readHex4() throws(Failure) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[offset]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            offset += 1
        }
        return v
    }

    /// Reads a string that must be valid UTF-8 (JSON text is UTF-8; invalid bytes inside a
    /// string are a malformed document).
    @inlinable
    public mutating func readString() throws(Failure) -> String {
        var buffer: [UInt8] = []
        try readString(into: &buffer)
        guard let s = String(validating: buffer, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
        return s
    }

    /// Reads an integer (the form of every id and rank in tokenizer.json).
    @inlinable
    public mutating func readInt() throws(Failure) -> Int {
        skipWhitespace()
        var negative = false
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") {
            negative = true
            offset += 1
        }
        let start = offset
        var v = 0
        while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 {
            if v > (Int.max - 9) / 10 { throw error("integer out of range") }
            v = v * 10 + Int(bytes[offset] - 0x30)
            offset += 1
        }
        if offset == start { throw error("expected an integer") }
        if offset < bytes.count,
           [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[offset]) {
            throw error("expected an integer, found a fraction")
        }
        return negative ? -v : v
    }

    @inlinable
    mutating func digits() -> Int {
        let start = offset
        while offset < bytes.count, bytes[offset] >= UInt8(ascii: "0"), bytes[offset] <= UInt8(ascii: "9") { offset += 1 }
        return offset - start
    }

    /// Consumes a number, checking it against the grammar (`-? (0 | [1-9][0-9]*) frac? exp?`):
    /// `+1`, `01`, `1.` and `.5` are not JSON.
    @inlinable
    mutating func skipNumber() throws(Failure) {
        skipWhitespace()
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "0") {
            offset += 1
        } else {
            guard digits() > 0 else { throw error("invalid number") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard digits() > 0 else { throw error("invalid number") }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard digits() > 0 else { throw error("invalid number") }
        }
    }

    /// Reads a number as a `Double` (nearest value; an exponent beyond its range is infinity).
    @inlinable
    public mutating func readNumber() throws(Failure) -> Double {
        skipWhitespace()
        let start = offset
        try skipNumber()
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        guard let d = Double(text) else { throw error("invalid number") }
        return d
    }

    /// Reads any value into a tree.
    @inlinable
    public mutating func readValue() throws(Failure) -> JSONValue {
        switch peek() {
        case UInt8(ascii: "{"):
            var fields: [String: JSONValue] = [:]
            try readObject { (reader: inout JSONReader, key: String) throws(Failure) in
                fields[key] = try reader.readValue()
            }
            return .object(fields)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            try readArray { (reader: inout JSONReader) throws(Failure) in
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

    /// Skips any value (e.g. unknown fields or a CloudEvent's `data`), checking that it is
    /// well formed, without decoding it or building a tree; returns its kind.
    @inlinable
    @discardableResult
    public mutating func skipValue() throws(Failure) -> JSONKind {
        var scratch: [UInt8] = []
        return try skipValue(scratch: &scratch)
    }

    @inlinable
    mutating func skipValue(scratch: inout [UInt8]) throws(Failure) -> JSONKind {
        switch peek() {
        case UInt8(ascii: "{"):
            var key: [UInt8] = []
            try readObjectRawKeys({ (reader: inout JSONReader, _: [UInt8]) throws(Failure) in
                _ = try reader.skipValue(scratch: &scratch)
            }, scratch: &key)
            return .object
        case UInt8(ascii: "["):
            try readArray { (reader: inout JSONReader) throws(Failure) in
                _ = try reader.skipValue(scratch: &scratch)
            }
            return .array
        case UInt8(ascii: "\""):
            scratch.removeAll(keepingCapacity: true)
            try readString(into: &scratch)
            return .string
        case UInt8(ascii: "t"):
            if consumeLiteral("true") { return .bool }
        case UInt8(ascii: "f"):
            if consumeLiteral("false") { return .bool }
        case UInt8(ascii: "n"):
            if consumeLiteral("null") { return .null }
        case .some(let c) where c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39):
            try skipNumber()
            return .number
        case nil:
            throw error("unexpected end of data")
        default:
            break
        }
        throw error("unexpected character")
    }
}
