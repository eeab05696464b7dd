/// A parsed JSON value, used for the small sections of tokenizer.json (pre-tokenizer,
/// post-processor, added tokens...). The large vocab and merges sections never become
/// `JSONValue`s: `JSONReader` streams them straight into the lookup tables.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    var isNull: Bool { self == .null }

    /// An integer, only when the number is integral and fits: ids must be exact.
    var int: Int? {
        guard case .number(let d) = self, d.rounded() == d, abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }

    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
