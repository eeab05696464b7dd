import ArgumentParser
import Foundation
import Inference
import ModerationProto
import Tokenizer
import Worker

/// `duoguard classify`: score texts with the DuoGuard model from the command line.
///
/// The default output mirrors the model card's printout (per-category probabilities, the
/// maximum, SAFE/UNSAFE); `--json` prints one JSON object per input for scripts. Texts are
/// scored by the same `TextScoring` and `CategoryThresholds` as the worker's, so a text gets
/// the same numbers and verdict here and from Kafka.
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

    @OptionGroup var modelArguments: ModelArguments
    @OptionGroup var scoringArguments: ScoringArguments

    @Flag(name: .long, help: "Print one JSON object per input.")
    var json = false

    @Flag(name: .long, help: "Read one JSON object {\"text\": ...} per stdin line.")
    var jsonl = false

    @Option(name: .long, help: "tokenizer.json for a model directory that has none.")
    var tokenizer: String?

    @Argument(help: "Texts to classify; read from stdin when absent.")
    var texts: [String] = []

    func run() throws {
        let options = try modelArguments.options(.none, tokenizerPath: tokenizer)
        let loaded = try DuoGuardModel.load(path: model, options: options)
        let scoring = try scoringArguments.scoring(for: loaded, .none)
        let thresholds = try scoringArguments.thresholds(for: loaded, .none)
        let identity = ResultComposer.identity(of: loaded)
        let classify = { (inputs: [String]) throws in
            try print(
                inputs, scored: loaded.score(inputs, scoring: scoring), thresholds: thresholds, names: loaded.config.categoryNames,
                identity: identity)
        }
        if !texts.isEmpty {
            try classify(texts)
            return
        }
        // stdin: batches of at most --batch-tokens tokens, printed as they complete.
        var failed = false
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
            let estimate = min(scoring.maxTokens, text.utf8.count + 1)
            if pendingTokens + estimate > options.batchTokenBudget, !pending.isEmpty {
                try classify(pending)
                pending.removeAll()
                pendingTokens = 0
            }
            pending.append(text)
            pendingTokens += estimate
        }
        if !pending.isEmpty { try classify(pending) }
        if failed { throw ExitCode.failure }
    }

    /// What only the command line has, added to each `--json` line: the input text and the
    /// raw logits (the parity tools compare them with the reference's).
    private struct LocalFields: Encodable {
        var logits: [JSONFloat]
        var text: String
    }

    /// One `--json` line: the result as a Kafka consumer gets it (`ModerationResult` in the
    /// proto3 JSON mapping: `maxProbability`, the `scores` list, `tokenCount`...; fields at
    /// their default, such as `"unsafe": false`, omitted), filled by the worker's own
    /// `ResultComposer.fillScores`, plus `LocalFields`.
    static func jsonLine(
        text: String, prepared: PreparedText, classification: Classification, thresholds: CategoryThresholds,
        names: [String], model: ModerationProto.ModelIdentity
    ) -> String {
        var result = ModerationResult()
        result.model = model
        ResultComposer.fillScores(
            of: &result, score: TextScore(classification, of: prepared), thresholds: thresholds, categoryNames: names)
        let local = JSONLines.line(LocalFields(logits: classification.logits.map(JSONFloat.init), text: text))
        guard let wire = try? ModerationCodec.encodeResult(result, contentType: .json) else {
            return JSONLines.line(["error": "unencodable result"])
        }
        // Both are single JSON objects: join their members ("{a}" + "{b}" -> "{a,b}").
        let members = String(decoding: wire, as: UTF8.self).dropLast()
        return members + (members == "{" ? "" : ",") + local.dropFirst()
    }

    private func print(
        _ inputs: [String], scored: [(prepared: PreparedText, classification: Classification)], thresholds: CategoryThresholds,
        names: [String], identity: ModerationProto.ModelIdentity
    ) {
        for (text, (prepared, result)) in zip(inputs, scored) {
            let flagged = thresholds.flagged(result.probabilities)
            if json {
                Swift.print(
                    Self.jsonLine(
                        text: text, prepared: prepared, classification: result, thresholds: thresholds, names: names,
                        model: identity))
            } else {
                let maxIndex = result.probabilities.indices.max { result.probabilities[$0] < result.probabilities[$1] } ?? 0
                let notes = (prepared.truncated ? "  [truncated to \(prepared.tokenCount) tokens]" : "")
                    + (prepared.sequences.count > 1 ? "  [\(prepared.sequences.count) windows]" : "")
                Swift.print("Text: \(text)\(notes)")
                Swift.print("  Probabilities per category (threshold \(thresholds.defaultValue)):")
                for (index, (name, p)) in zip(names, result.probabilities).enumerated() {
                    let own = thresholds.values[index] == thresholds.defaultValue ? "" : "  (threshold \(thresholds.values[index]))"
                    Swift.print("    \(name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(String(format: "%.3f", p))\(own)")
                }
                Swift.print("  Max probability: \(String(format: "%.3f", result.maxProbability)) (\(names[maxIndex]))")
                Swift.print("  Prediction: \(flagged.isEmpty ? "SAFE" : "UNSAFE")")
                Swift.print("")
            }
        }
    }

    static func text(fromJSONLine line: String) -> String? {
        JSONLineInput.text(Array(line.utf8))
    }
}
