/// A parsed JSON value, for small documents and sections (tokenizer.json's pre-tokenizer,
/// post-processor, added tokens...). Large sections never become `JSONValue`s: callers of
/// `JSONReader` stream them straight into their own tables.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The document that is the whole of `bytes` (whitespace around it allowed; anything
    /// else after it is an error), nesting at most `maxDepth` levels.
    public init(parsing bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = JSONReader<JSONSyntaxError>.defaultMaxDepth) throws(JSONSyntaxError) {
        var reader = JSONReader<JSONSyntaxError>(bytes, maxDepth: maxDepth)
        self = try reader.readValue()
        try reader.expectEnd()
    }

    /// See `init(parsing:maxDepth:)`.
    public init(parsing bytes: [UInt8], maxDepth: Int = JSONReader<JSONSyntaxError>.defaultMaxDepth) throws(JSONSyntaxError) {
        let result = bytes.withUnsafeBufferPointer { buffer -> Result<JSONValue, JSONSyntaxError> in
            do throws(JSONSyntaxError) {
                return .success(try JSONValue(parsing: buffer, maxDepth: maxDepth))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// An integer, only when the number is integral and fits: ids must be exact.
    public var int: Int? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    /// Any number (integral or not); nil for every other kind, booleans included.
    public var double: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let fields) = self { return fields }
        return nil
    }

    /// An array of exact integers (see `int`), or nil when any element is not one.
    public var ints: [Int]? {
        guard let items = array else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.int else { return nil }
            out.append(v)
        }
        return out
    }
}
