import ArgumentParser
import Inference
import Worker

extension LongTextMode: ExpressibleByArgument {}

/// How texts are scored, shared by `classify`, `worker` and `replay` so that a text scores
/// the same everywhere: the window, long texts, and the unsafe thresholds. Defaults are the
/// model's own (its file carries the window and the threshold) and `TextScoring`'s.
struct ScoringArguments: ParsableArguments {
    @Option(name: .long, help: OptionTable.help("--max-tokens"))
    var maxTokens: Int?
    @Option(name: .long, help: OptionTable.help("--long-text"))
    var longText: LongTextMode?
    @Option(name: .long, help: OptionTable.help("--window-overlap"))
    var windowOverlap: Int?
    @Option(name: .long, help: OptionTable.help("--max-windows"))
    var maxWindows: Int?
    @Option(name: .long, help: OptionTable.help("--threshold"))
    var threshold: Float?
    @Option(name: .long, help: OptionTable.help("--category-threshold"))
    var categoryThreshold: [String] = []
    @Option(name: .long, help: OptionTable.help("--category-thresholds"))
    var categoryThresholds: String?

    /// The scoring rule for `model`, validated against its batch budget.
    func scoring(for model: DuoGuardModel, _ environment: Environment) throws -> TextScoring {
        var scoring = TextScoring(for: model.config)
        if let value = try environment.value(maxTokens, "MAX_TOKENS") { scoring.maxTokens = value }
        if let value = try environment.value(longText, "LONG_TEXT") { scoring.longText = value }
        if let value = try environment.value(windowOverlap, "WINDOW_OVERLAP") { scoring.windowOverlap = value }
        if let value = try environment.value(maxWindows, "MAX_WINDOWS") { scoring.maxWindows = value }
        do {
            try scoring.validate(batchTokenBudget: model.options.batchTokenBudget)
        } catch {
            throw ValidationError(error.description)
        }
        return scoring
    }

    /// The thresholds: the model's default (or `--threshold`), then the file, then the flags.
    func thresholds(for model: DuoGuardModel, _ environment: Environment) throws -> CategoryThresholds {
        do {
            var thresholds = try CategoryThresholds.checked(default: try environment.value(threshold, "THRESHOLD") ?? model.config.threshold)
            if let path = try environment.value(categoryThresholds, "CATEGORY_THRESHOLDS") { try thresholds.load(file: path) }
            try thresholds.apply(categoryThreshold)
            return thresholds
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
