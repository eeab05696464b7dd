import ArgumentParser
import Inference

/// `--threads`, `--batch-tokens`: how the model runs. Defaults are `ModelOptions`'s.
struct ModelArguments: ParsableArguments {
    @Option(name: .long, help: "Inference threads (default: all cores) (env DUOGUARD_THREADS).")
    var threads: Int?
    @Option(name: .long, help: "Most tokens per forward pass (default \(ModelOptions().batchTokenBudget)) (env DUOGUARD_BATCH_TOKENS).")
    var batchTokens: Int?

    /// The options, validated.
    func options(_ environment: Environment, tokenizerPath: String? = nil) throws -> ModelOptions {
        let options = ModelOptions(
            threads: try environment.value(threads, "THREADS"),
            batchTokenBudget: try environment.value(batchTokens, "BATCH_TOKENS"),
            tokenizerPath: tokenizerPath)
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return options
    }
}
