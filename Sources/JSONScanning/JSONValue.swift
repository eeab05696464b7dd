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

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
