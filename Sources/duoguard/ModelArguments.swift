import ArgumentParser
import Inference

/// `--threads`, `--batch-tokens`, `--weight-format`, `--packed-weights`: how the model runs. Defaults are `ModelOptions`'s.
struct ModelArguments: ParsableArguments {
    @Option(name: .long, help: "Inference threads (default: all cores) (env DUOGUARD_THREADS).")
    var threads: Int?
    @Option(name: .long, help: "Most tokens per forward pass (default \(ModelOptions().batchTokenBudget)) (env DUOGUARD_BATCH_TOKENS).")
    var batchTokens: Int?
    @Option(name: .long, help: ArgumentHelp(
        "Packed weights: 'beside' maps <model>.packed when it matches (default; made by `duoguard pack`), a DIRECTORY maps and builds them there (shared by every process on the host), 'private' packs a private copy (env DUOGUARD_PACKED_WEIGHTS).",
        valueName: "beside|private|DIRECTORY"))
    var packedWeights: String?
    @Option(name: .long, help: ArgumentHelp(
        "How layer matrices are held: 'stored' (the file's Q8_0/Q4_0 blocks, default) or 'q8_r' (requantized at load to per-row int8, faster on VNNI CPUs; docs/kernels.md for its accuracy) (env DUOGUARD_WEIGHT_FORMAT).",
        valueName: "stored|q8_r"))
    var weightFormat: WeightFormat?

    /// `beside`, `private` or a directory, as `PackedWeightsStorage`.
    static func storage(_ text: String) throws -> PackedWeightsStorage {
        switch text {
        case "beside": return .besideModel
        case "private": return .privateMemory
        case "": throw ValidationError("--packed-weights: expected beside, private or a directory")
        default: return .directory(text)
        }
    }

    /// The options, validated.
    func options(_ environment: Environment, tokenizerPath: String? = nil) throws -> ModelOptions {
        let options = ModelOptions(
            threads: try environment.value(threads, "THREADS"),
            batchTokenBudget: try environment.value(batchTokens, "BATCH_TOKENS"),
            tokenizerPath: tokenizerPath,
            weightFormat: try environment.value(weightFormat, "WEIGHT_FORMAT"),
            packedWeights: try environment.value(packedWeights, "PACKED_WEIGHTS").map(Self.storage))
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return options
    }
}

extension WeightFormat: ExpressibleByArgument {}
