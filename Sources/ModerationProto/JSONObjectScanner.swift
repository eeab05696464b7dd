import JSONScanning

/// Reads the top level of a JSON object: each member's name and, for its value, either the
/// decoded string or the exact byte range of anything else.
///
/// Why not `JSONSerialization`: a structured CloudEvent's `data` must reach the protobuf
/// JSON decoder as the producer wrote it (re-serializing a parsed tree changes number
/// spellings and costs a second tree); the attributes need only their strings. The grammar
/// is the project's one JSON reader (`JSONScanning.JSONReader`, shared with the tokenizer
/// loader): the whole text is validated in one pass (RFC 8259, nesting bounded by
/// `maxDepth`, so a hostile `[[[[...` cannot exhaust the stack) without building a tree.
struct JSONObjectScanner {
    /// A member's value.
    enum Value: Equatable {
        /// A string, unescaped.
        case string(String)
        /// Anything else (object, array, number, `true`, `false`, `null`), as the range of its
        /// bytes in the input and its kind.
        case other(Range<Int>, JSONKind)
    }

    /// Why the text is not one JSON object: what and at which byte.
    struct Failure: JSONSyntaxFailure, Equatable {
        let detail: String

        static func jsonSyntax(_ detail: String, at offset: Int) -> Failure {
            Failure(detail: "\(detail) at byte \(offset)")
        }
    }

    /// The members of the object that is the whole of `bytes`, in order. Fails on anything
    /// that is not exactly one valid JSON object, or nests deeper than `maxDepth`. The caller
    /// has checked that `bytes` is UTF-8, so names and strings are decoded as they are.
    static func members(of bytes: [UInt8], maxDepth: Int) throws(Failure) -> [(name: String, value: Value)] {
        let result = bytes.withUnsafeBufferPointer { buffer -> Result<[(name: String, value: Value)], Failure> in
            do throws(Failure) {
                return .success(try members(in: buffer, maxDepth: maxDepth))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func members(
        in buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int
    ) throws(Failure) -> [(name: String, value: Value)] {
        var reader = JSONReader<Failure>(buffer, maxDepth: maxDepth)
        switch reader.peek() {
        case nil: throw Failure(detail: "empty value")
        case UInt8(ascii: "{"): break
        default: throw Failure(detail: "top-level JSON value is not an object")
        }
        var members: [(name: String, value: Value)] = []
        var scratch: [UInt8] = []
        try reader.readObject { (reader: inout JSONReader<Failure>, name: String) throws(Failure) in
            if reader.peek() == UInt8(ascii: "\"") {
                scratch.removeAll(keepingCapacity: true)
                try reader.readString(into: &scratch)
                members.append((name, .string(String(decoding: scratch, as: UTF8.self))))
            } else {
                let start = reader.position
                let kind = try reader.skipValue()
                members.append((name, .other(start..<reader.position, kind)))
            }
        }
        try reader.expectEnd()
        return members
    }
}
