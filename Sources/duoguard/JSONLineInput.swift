import JSONScanning

/// The command-line tools' JSON-lines input (`classify --jsonl`, `tokenize --jsonl`,
/// `bench --score-ids`), read with the project's one JSON grammar (`JSONScanning`) instead of
/// Foundation's: a line is outside bytes, so it gets the same strict, depth-bounded reading as
/// a tokenizer file or a CloudEvent, and ids must be exact integers (no silent truncation of
/// `1.5` or `1e10`).
enum JSONLineInput {
    /// The whole line as one JSON value; nil when it is not exactly one well-formed value.
    static func value(_ line: [UInt8]) -> JSONValue? {
        try? JSONValue(parsing: line)
    }

    /// The string member `text` of a line that is a JSON object (other members are ignored).
    static func text(_ line: [UInt8]) -> String? {
        value(line)?["text"]?.string
    }

    /// A line of token ids: a JSON array of integers, or an object whose `ids` member is one;
    /// nil when any element is not an exact integer in the `Int32` range.
    static func ids(_ line: [UInt8]) -> [Int32]? {
        guard let parsed = value(line), let list = parsed.array ?? parsed["ids"]?.array else { return nil }
        var ids: [Int32] = []
        ids.reserveCapacity(list.count)
        for item in list {
            guard let id = item.int.flatMap({ Int32(exactly: $0) }) else { return nil }
            ids.append(id)
        }
        return ids
    }
}
