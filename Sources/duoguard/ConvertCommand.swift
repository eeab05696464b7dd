import ArgumentParser
import Foundation
import Inference

/// `duoguard convert`: a Hugging Face DuoGuard directory to one self-contained GGUF file
/// (weights, head, hyperparameters, categories, tokenizer, content hash).
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a Hugging Face DuoGuard model directory to a GGUF file.",
        discussion: """
            MODEL_DIR holds config.json, model.safetensors (or shards with \
            model.safetensors.index.json; bf16, f16 or f32) and tokenizer.json, as published. \
            Matrices and the embedding table are stored in --type; norms and the 12-row head \
            in f32. Q8_0/Q4_0 blocks are bit-compatible with ggml.
            """
    )

    @Argument(help: "The Hugging Face model directory.")
    var modelDirectory: String

    @Option(name: .shortAndLong, help: "The GGUF file to write.")
    var output: String

    @Option(name: .long, help: "Matrix type: f32, f16, q8_0 or q4_0.")
    var type: String = "q8_0"

    @Option(name: .long, help: "tokenizer.json to embed (default: MODEL_DIR/tokenizer.json).")
    var tokenizer: String?

    @Option(name: .long, help: "Default truncation stored in the file (default \(ModelConfig.referenceMaxTokens)).")
    var maxTokens: Int = ModelConfig.referenceMaxTokens

    @Option(name: .long, help: "Default decision threshold stored in the file, strictly between 0 and 1 (default \(ModelConfig.referenceThreshold)).")
    var threshold: Float = ModelConfig.referenceThreshold

    func validate() throws {
        guard let t = TensorType(name: type), t != .bf16 else {
            throw ValidationError("--type must be f32, f16, q8_0 or q4_0")
        }
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
        // The loader refuses 0 and 1 (0 flags every text, 1 none), so the converter does too.
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be strictly between 0 and 1") }
    }

    func run() throws {
        let started = ContinuousClock.now
        let directory = try HuggingFaceModelDirectory(path: modelDirectory)
        let options = ConversionOptions(type: TensorType(name: type) ?? .q8_0, tokenizerPath: tokenizer,
                                        maxTokens: maxTokens, threshold: threshold)
        let bar = ProgressBar(label: "converting")
        let summary: ConversionSummary
        do {
            summary = try ModelConverter.convert(directory: directory, to: output, options: options) { done, total in
                bar.update(done, total)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: output)
            throw error
        }
        bar.finish()
        let seconds = (ContinuousClock.now - started).components
        let elapsed = Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18
        print("wrote \(output): \(summary.tensorCount) tensors, \(summary.fileSize) bytes, \(options.type), \(summary.contentHash) (\(String(format: "%.1f", elapsed)) s)")
    }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class ProgressBar: @unchecked Sendable {
    private let label: String
    private let enabled = isatty(STDERR_FILENO) == 1
    private var lastDrawn = -1

    init(label: String) { self.label = label }

    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let width = 30
        let filled = done * width / total
        guard filled != lastDrawn || done == total else { return }
        lastDrawn = filled
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) \(bar) \(done)/\(total)".utf8))
    }

    func finish() {
        guard enabled, lastDrawn >= 0 else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
