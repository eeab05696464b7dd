import ArgumentParser
import Foundation
import Inference

/// `duoguard pack`: writes a model's packed weights to `<model>.packed` (or into a
/// directory), so that every process on the host maps one shared, read-only copy instead of
/// packing a private one at load (docs/operations.md, "Packed weights").
///
/// Run it where the model is installed (for containers: in the image build, beside the
/// model): the file is keyed by the model's content hash, the kernels of this CPU and the
/// packed layout version, and a process whose key differs packs privately (or rebuilds the
/// file, with `--packed-weights DIRECTORY`) instead of reading it wrong.
struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Write the packed weights of a GGUF model to <model>.packed for processes to share.",
        discussion: """
            Loads the model, then maps <model>.packed if it matches (model content hash, kernels, \
            packed layout version), else builds it atomically. With --verify, the model's content hash \
            and the packed data's digest are checked (reads every page). Prints where the packed weights \
            came from; exits non-zero if they could not be written.
            """
    )

    @Option(name: .long, help: "A .gguf file written by `duoguard convert`.")
    var model: String

    @Option(name: .long, help: "Write <directory>/<model file name>.packed instead of beside the model.")
    var directory: String?

    @Option(name: .long, help: "Threads for packing (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Verify the model's content hash and the packed data's digest.")
    var verify = false

    @Option(name: .long, help: "Pack for this weight format, as the processes that will map the file run ('stored' or 'q8_r').")
    var weightFormat: WeightFormat = .stored

    func run() throws {
        let folder = directory ?? URL(fileURLWithPath: model).deletingLastPathComponent().path
        let options = ModelOptions(threads: threads, batchTokenBudget: 16, verifyContentHash: verify, weightFormat: weightFormat, packedWeights: .directory(folder))
        do {
            try options.validate()
        } catch {
            throw ValidationError(error.description)
        }
        let loaded = try DuoGuardModel.load(path: model, options: options)
        print("packed weights: \(loaded.packedWeights)")
        switch loaded.packedWeights {
        case .mappedFile, .builtFile: return
        case .none: throw ValidationError("\(model) has no Q8_0/Q4_0 matrices: nothing to pack")
        case .privateMemory: throw ExitCode.failure
        }
    }
}
