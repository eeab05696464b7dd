import ArgumentParser
import Foundation
import Inference
import Tokenizer

/// `duoguard classify`: score texts with the DuoGuard model from the command line.
///
/// The default output mirrors the model card's printout (per-category probabilities, the
/// maximum, SAFE/UNSAFE); `--json` prints one JSON object per input for scripts.
struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify texts with a DuoGuard model (GGUF file or Hugging Face directory).",
        discussion: """
            Inputs are the TEXT arguments; without them, each stdin line is one input (or, with \
            --jsonl, a JSON object {"text": ...} per line), classified in batches of at most \
            --batch-tokens tokens. A Hugging Face directory is converted to f32 in memory on the fly.
            """
    )

    @Option(name: .long, help: "A .gguf file written by `duoguard convert`, or a Hugging Face model directory.")
    var model: String

    @Option(name: .long, help: "Unsafe when the largest probability exceeds this (default: the model's, 0.5).")
    var threshold: Float?

    @Option(name: .long, help: "Truncate inputs to N tokens (default: the model's, 512).")
    var maxTokens: Int?

    @Flag(name: .long, help: "Print one JSON object per input.")
    var json = false

    @Flag(name: .long, help: "Read one JSON object {\"text\": ...} per stdin line.")
    var jsonl = false

    @Option(name: .long, help: "Most tokens per forward pass (default 2048).")
    var batchTokens: Int = 2048

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "tokenizer.json for a model directory that has none.")
    var tokenizer: String?

    @Option(name: .long, help: "Texts over --max-tokens: truncate (default, as the model card) or windows (max over overlapping windows).")
    var longText: String = "truncate"

    @Option(name: .long, help: "Tokens shared by consecutive windows with --long-text windows (default 64).")
    var windowOverlap: Int = 64

    @Argument(help: "Texts to classify; read from stdin when absent.")
    var texts: [String] = []

    func validate() throws {
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let threshold, !(0 ... 1).contains(threshold) { throw ValidationError("--threshold must be within 0...1") }
        guard batchTokens >= 1 else { throw ValidationError("--batch-tokens must be at least 1") }
        if let maxTokens, maxTokens > batchTokens { throw ValidationError("--batch-tokens must be at least --max-tokens") }
        guard ["truncate", "windows"].contains(longText) else { throw ValidationError("--long-text must be truncate or windows") }
        guard windowOverlap >= 0 else { throw ValidationError("--window-overlap must not be negative") }
    }

    func run() throws {
        let loaded = try DuoGuardModel.load(path: model, options: ModelOptions(
            threads: threads, batchTokenBudget: max(batchTokens, maxTokens ?? 0), tokenizerPath: tokenizer))
        let limit = maxTokens ?? min(loaded.config.maxTokens, batchTokens)
        let threshold = threshold ?? loaded.config.threshold
        var failed = false

        if !texts.isEmpty {
            try classifyAndPrint(texts, model: loaded, limit: limit, threshold: threshold)
            return
        }
        // stdin: batches of at most --batch-tokens tokens, printed as they complete.
        var pending: [String] = []
        var pendingTokens = 0
        var lineNumber = 0
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            var text = line
            if jsonl {
                guard let parsed = Self.text(fromJSONLine: line) else {
                    FileHandle.standardError.write(Data("line \(lineNumber): expected a JSON object {\"text\": \"...\"}\n".utf8))
                    failed = true
                    continue
                }
                text = parsed
            }
            // Cheap upper bound on the tokens: a line never has more tokens than UTF-8 bytes + 1.
            let estimate = min(limit, text.utf8.count + 1)
            if pendingTokens + estimate > batchTokens, !pending.isEmpty {
                try classifyAndPrint(pending, model: loaded, limit: limit, threshold: threshold)
                pending.removeAll()
                pendingTokens = 0
            }
            pending.append(text)
            pendingTokens += estimate
        }
        if !pending.isEmpty { try classifyAndPrint(pending, model: loaded, limit: limit, threshold: threshold) }
        if failed { throw ExitCode.failure }
    }

    private func classifyAndPrint(_ inputs: [String], model: DuoGuardModel, limit: Int, threshold: Float) throws {
        let names = model.config.categoryNames
        for (text, scored) in zip(inputs, try score(inputs, model: model, limit: limit)) {
            let result = scored.classification
            let unsafe = result.isUnsafe(threshold: threshold)
            if json {
                var out = "{\"text\":\(JSONText.quoted(text)),\"tokens\":\(scored.tokens),\"truncated\":\(scored.truncated),\"windows\":\(scored.windows),"
                out += "\"logits\":[" + result.logits.map { JSONText.number($0) }.joined(separator: ",") + "],"
                out += "\"probabilities\":{" + zip(names, result.probabilities).map { "\(JSONText.quoted($0)):\(JSONText.number($1))" }.joined(separator: ",") + "},"
                out += "\"max_probability\":\(JSONText.number(result.maxProbability)),\"unsafe\":\(unsafe),"
                out += "\"categories\":[" + result.categories(over: threshold).map { JSONText.quoted(names[$0]) }.joined(separator: ",") + "]}"
                print(out)
            } else {
                let maxIndex = result.probabilities.indices.max { result.probabilities[$0] < result.probabilities[$1] } ?? 0
                print("Text: \(text)\(scored.truncated ? "  [truncated to \(scored.tokens) tokens]" : "")\(scored.windows > 1 ? "  [\(scored.windows) windows]" : "")")
                print("  Probabilities per category (threshold \(threshold)):")
                for (name, p) in zip(names, result.probabilities) {
                    print("    \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(String(format: "%.3f", p))")
                }
                print("  Max probability: \(String(format: "%.3f", result.maxProbability)) (\(names[maxIndex]))")
                print("  Prediction: \(unsafe ? "UNSAFE" : "SAFE")")
                print("")
            }
        }
    }

    /// One input's score: tokens scored (all windows together), whether the text was cut,
    /// how many windows were scored, and the (per-category maximum) classification.
    private struct Scored {
        var tokens: Int
        var truncated: Bool
        var windows: Int
        var classification: Classification
    }

    /// Classifies texts: truncated (one sequence each), or every window of each (`--long-text
    /// windows`), reduced to the per-category maximum over windows.
    private func score(_ inputs: [String], model: DuoGuardModel, limit: Int) throws -> [Scored] {
        guard longText == "windows" else {
            return try model.classify(texts: inputs, maxTokens: limit).map {
                Scored(tokens: $0.tokens.ids.count, truncated: $0.tokens.truncated, windows: 1, classification: $0.classification)
            }
        }
        let windows = inputs.map { model.tokenizer.windows($0, maxTokens: limit, overlap: min(windowOverlap, limit - 2)).map(\.ids) }
        let flat = try model.classify(batch: windows.flatMap { $0 })
        var start = 0
        return windows.map { sequences in
            defer { start += sequences.count }
            return Scored(
                tokens: sequences.reduce(0) { $0 + $1.count }, truncated: false, windows: sequences.count,
                classification: Classification.maximum(of: flat[start..<start + sequences.count]))
        }
    }

    static func text(fromJSONLine line: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        return object["text"] as? String
    }
}
