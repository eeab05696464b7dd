import JSONScanning

/// What the post-processor adds around the content tokens of a single sequence when special
/// tokens are requested: for Llama-3.2's `TemplateProcessing` ("<|begin_of_text|> $A") a
/// one-token prefix; for Llama-3.0's `ByteLevel` (offsets only) nothing.
struct PostProcessor: Sendable, Equatable {
    var prefix: [Int32] = []
    var suffix: [Int32] = []

    var addedCount: Int { prefix.count + suffix.count }

    /// The most special tokens a post-processor may add to a sequence (Llama-3.2 adds 1).
    /// Without a bound, a template naming a long id list many times would multiply the two:
    /// 10,000 references to 200,000 ids make 2e9 ids from a 1 MB file.
    static let maxAddedTokens = 64

    private static func tooMany() -> TokenizerError {
        .unsupported("post_processor adds more than \(maxAddedTokens) special tokens to a sequence")
    }

    init(prefix: [Int32], suffix: [Int32]) {
        self.prefix = prefix
        self.suffix = suffix
    }

    /// Parses the `post_processor` section.
    init(_ json: JSONValue) throws(TokenizerError) {
        if json.isNull { return }
        guard let type = json["type"]?.string else { throw .malformed("post_processor without a type") }
        switch type {
        case "ByteLevel":
            // Only adjusts offsets, which this tokenizer does not report.
            return
        case "Sequence":
            guard let steps = json["processors"]?.array else {
                throw .malformed("post_processor Sequence without processors")
            }
            for step in steps {
                let inner = try PostProcessor(step)
                guard addedCount + inner.addedCount <= Self.maxAddedTokens else { throw Self.tooMany() }
                prefix.append(contentsOf: inner.prefix)
                suffix.insert(contentsOf: inner.suffix, at: 0)
            }
        case "TemplateProcessing":
            try parseTemplate(json)
        default:
            throw .unsupported("post_processor type \(type)")
        }
    }

    private mutating func parseTemplate(_ json: JSONValue) throws(TokenizerError) {
        guard let single = json["single"]?.array else {
            throw .malformed("TemplateProcessing without a single template")
        }
        var specials: [String: [Int32]] = [:]
        if case .object(let map)? = json["special_tokens"] {
            for (name, entry) in map {
                guard let ids = entry["ids"]?.array else { throw .malformed("special token \(name) without ids") }
                var out: [Int32] = []
                for id in ids {
                    guard let v = id.int, let v32 = Int32(exactly: v), v32 >= 0 else {
                        throw .malformed("special token \(name) has an invalid id")
                    }
                    out.append(v32)
                }
                specials[name] = out
            }
        }
        var seenSequence = false
        for piece in single {
            if let special = piece["SpecialToken"] {
                guard let name = special["id"]?.string, let ids = specials[name] else {
                    throw .malformed("TemplateProcessing refers to an undefined special token")
                }
                guard addedCount + ids.count <= Self.maxAddedTokens else { throw Self.tooMany() }
                if seenSequence { suffix.append(contentsOf: ids) } else { prefix.append(contentsOf: ids) }
            } else if let sequence = piece["Sequence"] {
                guard sequence["id"]?.string == "A", !seenSequence else {
                    throw .unsupported("TemplateProcessing single template must hold $A exactly once")
                }
                seenSequence = true
            } else {
                throw .malformed("TemplateProcessing piece is neither SpecialToken nor Sequence")
            }
        }
        guard seenSequence else { throw .unsupported("TemplateProcessing single template without $A") }
    }
}
