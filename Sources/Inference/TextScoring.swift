import Tokenizer

/// How a text becomes model input, and how its score is read back: the one rule that
/// `duoguard classify`, the worker and replay all use, so a text scores the same everywhere.
///
/// `.truncate` keeps the first `maxTokens` tokens (the model card); `.windows` cuts the whole
/// text into overlapping windows of `maxTokens` tokens (each with `<|begin_of_text|>`) and
/// takes, per category, the maximum over the windows.
public struct TextScoring: Sendable, Equatable {
    /// Tokens per text, or per window, `<|begin_of_text|>` included. Default: 512, the model
    /// card's truncation.
    public var maxTokens: Int = ModelConfig.referenceMaxTokens
    /// What to do with texts over `maxTokens`. Default: `.truncate`.
    public var longText: LongTextMode = .truncate
    /// Tokens shared by consecutive windows in `.windows` mode. Default: 64.
    public var windowOverlap: Int = 64
    /// Most windows a text may have in `.windows` mode; the worker answers a longer text
    /// INVALID_ARGUMENT instead of running it alone for as long as it takes (a 64 KiB text is
    /// ~146 windows). Default: 64 (about 28,000 tokens).
    public var maxWindows: Int = 64

    public init() {}

    /// The model's own settings: its window (`maxTokens` of the file, 512 for DuoGuard) and
    /// truncation.
    public init(for config: ModelConfig) {
        maxTokens = config.maxTokens
    }

    public init(maxTokens: Int, longText: LongTextMode = .truncate, windowOverlap: Int = 64) {
        self.maxTokens = maxTokens
        self.longText = longText
        self.windowOverlap = windowOverlap
    }

    /// Checks the settings against the model's batch budget (a sequence must fit a batch).
    /// A window advances by `maxTokens - 1 - windowOverlap` tokens (one slot is the BOS), so an
    /// overlap close to `maxTokens` would cost a forward pass per token: the step must be at
    /// least a quarter of the window.
    public func validate(batchTokenBudget: Int) throws(ConfigurationError) {
        guard maxTokens >= 2 else { throw ConfigurationError("--max-tokens", "must be at least 2 (BOS and one text token), not \(maxTokens)") }
        guard maxTokens <= batchTokenBudget else {
            throw ConfigurationError("--max-tokens", "\(maxTokens) is more than --batch-tokens (\(batchTokenBudget)); a text must fit one batch")
        }
        guard windowOverlap >= 0 else { throw ConfigurationError("--window-overlap", "must not be negative, not \(windowOverlap)") }
        guard (1...100_000).contains(maxWindows) else { throw ConfigurationError("--max-windows", "must be within 1...100000, not \(maxWindows)") }
        if longText == .windows {
            let step = maxTokens - 1 - windowOverlap
            guard step * 4 >= maxTokens - 1 else {
                throw ConfigurationError(
                    "--window-overlap",
                    "\(windowOverlap) leaves a step of \(step) tokens per \(maxTokens)-token window; keep it at most \((maxTokens - 1) * 3 / 4)")
            }
        }
    }

    /// Tokenizes `text` into the sequences the model scores for it.
    public func prepare(_ text: String, tokenizer: Tokenizer) -> PreparedText {
        switch longText {
        case .truncate:
            let tokens = tokenizer.encode(text, addSpecialTokens: true, maxTokens: maxTokens)
            return PreparedText(sequences: [tokens.ids], truncated: tokens.truncated)
        case .windows:
            let windows = tokenizer.windows(text, maxTokens: maxTokens, overlap: windowOverlap)
            return PreparedText(sequences: windows.map(\.ids), truncated: false)
        }
    }
}

/// A text ready for the model: one sequence, or one per window.
public struct PreparedText: Sendable, Equatable {
    /// Token ids per sequence, `<|begin_of_text|>` first.
    public var sequences: [[Int32]]
    /// True when `.truncate` cut the text.
    public var truncated: Bool

    public init(sequences: [[Int32]], truncated: Bool) {
        self.sequences = sequences
        self.truncated = truncated
    }

    /// Tokens over all sequences (what the text costs in a batch).
    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }

    /// The text's classification from its sequences' (in order): the per-category maximum.
    public func score<C: Collection>(_ classifications: C) -> Classification where C.Element == Classification {
        Classification.maximum(of: classifications)
    }
}

extension DuoGuardModel {
    /// Prepares and classifies texts as `scoring` says; one classification per text.
    /// Call from one thread at a time (see `classify(batch:)`).
    public func score(_ texts: [String], scoring: TextScoring) throws(InferenceError) -> [(prepared: PreparedText, classification: Classification)] {
        let prepared = texts.map { scoring.prepare($0, tokenizer: tokenizer) }
        return Array(zip(prepared, try classify(prepared)))
    }

    /// Classifies prepared texts in one batch (all their sequences together); one
    /// classification per text, its sequences' per-category maximum. Call from one thread at
    /// a time (see `classify(batch:)`).
    public func classify(_ prepared: [PreparedText]) throws(InferenceError) -> [Classification] {
        let flat = try classify(batch: prepared.flatMap(\.sequences))
        var start = 0
        return prepared.map { text in
            defer { start += text.sequences.count }
            return text.score(flat[start..<start + text.sequences.count])
        }
    }
}
