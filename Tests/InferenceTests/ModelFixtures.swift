import Foundation
import Inference
import XCTest
import TestSupport

/// Paths and reference data of the committed model fixtures (scripts/model-fixtures.py).
enum ModelFixtures {
    static let repositoryRoot: URL = RepositoryRoot.url
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/InferenceTests/Fixtures")
    /// The real Llama-3.2 tokenizer.json written by scripts/prepare-tokenizers.sh (not committed).
    static let tokenizerPath = repositoryRoot.appendingPathComponent("Tests/Fixtures/generated/llama3.2/tokenizer.json").path

    static func directory(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    struct Reference: Decodable {
        struct Prompt: Decodable { var ids: [Int32]; var logits: [Float] }
        struct Batch: Decodable { var members: [Int]; var logits: [[Float]] }
        struct Text: Decodable { var text: String; var ids: [Int32]; var truncated: Bool; var logits: [Float] }
        var model: String
        var pad_token_id: Int32
        var prompts: [Prompt]
        var batches: [Batch]
        var texts: [Text]
        /// Logits of the fp32 forward with Q8_0/Q4_0-rounded matrices (weights only).
        var quantized: [String: [[Float]]]?
    }

    static func reference(_ name: String) throws -> Reference {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name).appendingPathComponent("reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    static func requireTokenizer() throws {
        guard FileManager.default.fileExists(atPath: tokenizerPath) else {
            XCTFail("missing \(tokenizerPath): run scripts/prepare-tokenizers.sh first")
            throw XCTSkip("no tokenizer.json")
        }
    }

    /// A fresh temporary directory, removed at process exit by the OS tmp cleaner (tests
    /// remove what they can).
    static func temporaryDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("duoguard-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var converted: [String: String] = [:]
    private static let cacheDirectory = temporaryDirectory()

    /// The fixture converted to `type` (converted once per test process).
    static func gguf(_ name: String, type: TensorType) throws -> String {
        cacheLock.lock()
        defer { cacheLock.unlock() }
        let key = "\(name)-\(type)"
        if let path = converted[key] { return path }
        try requireTokenizer()
        let output = cacheDirectory.appendingPathComponent("\(key).gguf").path
        let directory = try HuggingFaceModelDirectory(path: directory(name))
        _ = try ModelConverter.convert(directory: directory, to: output,
                                       options: ConversionOptions(type: type, tokenizerPath: tokenizerPath))
        converted[key] = output
        return output
    }

    static func model(_ name: String, type: TensorType, threads: Int? = nil, budget: Int = 4096) throws -> DuoGuardModel {
        try DuoGuardModel.load(path: gguf(name, type: type), options: ModelOptions(threads: threads, batchTokenBudget: budget))
    }

    static func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    static func sigmoid(_ x: Float) -> Float { Float(1 / (1 + exp(-Double(x)))) }
}
