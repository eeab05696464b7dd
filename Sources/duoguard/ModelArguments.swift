import ArgumentParser
import Inference

/// `--threads`, `--batch-tokens`, `--weight-format`, `--packed-weights`: how the model runs. Defaults are `ModelOptions`'s.
struct ModelArguments: ParsableArguments {
    @Option(name: .long, help: OptionTable.help("--threads"))
    var threads: Int?
    @Option(name: .long, help: OptionTable.help("--batch-tokens"))
    var batchTokens: Int?
    @Option(name: .long, help: OptionTable.help("--packed-weights", valueName: "beside|private|DIRECTORY"))
    var packedWeights: String?
    @Option(name: .long, help: OptionTable.help("--weight-format", valueName: "stored|q8_r"))
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
