import CKernels
import Foundation
import Tokenizer

/// The DuoGuard classifier, ready to score token sequences.
///
/// Load a GGUF file written by `duoguard convert` (weights memory-mapped, no copy), or a
/// Hugging Face directory (converted to f32 on the fly into an unlinked temporary file,
/// then mapped the same way).
///
/// `classify` is NOT reentrant: it reuses one preallocated run state and one thread pool,
/// so call it from one thread at a time (a worker owns one model per inference thread).
/// Properties are immutable and safe to read from anywhere.
public final class DuoGuardModel: @unchecked Sendable {
    /// The 12 DuoGuard categories, in logit order (written once, in `ModelConfig.duoGuardCategories`,
    /// because the converter and the loader check a file's labels against them).
    public static var categoryNames: [String] { ModelConfig.duoGuardCategories }

    public let config: ModelConfig
    public let identity: ModelIdentity
    public let tokenizer: Tokenizer
    public let options: ModelOptions
    /// Where the packed weights came from (a shared file, or private memory and why).
    public let packedWeights: PackedWeightsOrigin
    /// Name of the matrix-multiply kernel in use ("avx2", "scalar", ...).
    public var kernelName: String { String(cString: ck_kernel_name()) }
    let file: GGUFFile
    private let transformer: Transformer
    private let budget: Int

    private init(file: GGUFFile, tokenizer: Tokenizer?, options: ModelOptions,
                 packedStorage: PackedWeightsStorage? = nil) throws(ModelFileError) {
        let config = try ModelConfig(gguf: file)
        let checked = try ModelWeights(file: file, config: config)
        if let tokenizer {
            self.tokenizer = tokenizer
        } else {
            guard let json = file[GGUFNames.tokenizerJSON]?.stringValue else {
                throw .missingMetadata(key: GGUFNames.tokenizerJSON)
            }
            do {
                self.tokenizer = try Tokenizer(json: Data(json.utf8))
            } catch {
                throw .invalidMetadata(key: GGUFNames.tokenizerJSON, detail: "\(error)")
            }
        }
        let storedHash = file[GGUFNames.contentHash]?.stringValue ?? ""
        if options.verifyContentHash {
            let computed = file.computeContentHash()
            guard computed == storedHash else { throw .contentHashMismatch(expected: storedHash, found: computed) }
            // Hashing read every page of the file; give them back before packing makes copies.
            for info in file.tensors { PackedWeights.releasePages(file.data(info), count: info.byteCount) }
        }
        // Packing last: a file rejected above costs no packing.
        let pool = ThreadPool(threadCount: options.threads)
        let storage = packedStorage ?? options.packedWeights
        let request = storage.path(forModel: file.path).map {
            PackedWeights.FileRequest(path: $0, contentHash: storedHash, mayWrite: storage.mayWrite, verifyData: options.verifyContentHash)
        }
        let weights = checked.packing(on: pool, format: options.weightFormat, packedFile: request)
        packedWeights = weights.packed?.origin ?? .none
        let matrixType = weights.layers.first?.query.type ?? weights.embedding.type
        // Q8_R matrices are requantized at load (rows of a multiple of 128 only): say so and from what.
        let requantized = weights.matrices.contains { $0.packedType == CK_TYPE_Q8_R }
        identity = ModelIdentity(
            name: file[GGUFNames.sourceModel]?.stringValue ?? file[GGUFNames.name]?.stringValue ?? "unknown",
            quantization: requantized ? "Q8_R from \(matrixType.description)" : matrixType.description,
            contentHash: storedHash
        )
        self.config = config
        self.file = file
        self.options = options
        budget = max(options.batchTokenBudget, 1)
        transformer = Transformer(config: config, weights: weights, pool: pool, tokenBudget: budget)
    }

    /// Loads a `.gguf` file, or a Hugging Face model directory.
    public static func load(path: String, options: ModelOptions = ModelOptions()) throws(ModelFileError) -> DuoGuardModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        guard isDirectory.boolValue else {
            return try DuoGuardModel(file: GGUFFile(path: path), tokenizer: nil, options: options)
        }
        let directory = try HuggingFaceModelDirectory(path: path)
        let temporary = FileManager.default.temporaryDirectory
            .appendingPathComponent("duoguard-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).gguf").path
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        _ = try ModelConverter.convert(
            directory: directory, to: temporary,
            options: ConversionOptions(type: .f32, tokenizerPath: options.tokenizerPath)
        )
        // The mapping stays valid after the temporary file is removed.
        // A converted temporary model has no packed file to share.
        return try DuoGuardModel(file: GGUFFile(path: temporary), tokenizer: nil, options: options, packedStorage: .privateMemory)
    }

    /// Checks that every id the tokenizer can produce has a row in the model's embedding
    /// table: a tokenizer of another model (a larger vocabulary) would otherwise fail requests
    /// one by one at run time. The worker and replay call it at start.
    public func checkVocabulary() throws(ModelFileError) {
        guard tokenizer.vocabularySize <= config.vocabSize else {
            throw .invalidMetadata(
                key: GGUFNames.tokenizerJSON,
                detail: "the tokenizer has \(tokenizer.vocabularySize) ids but the model's vocabulary is \(config.vocabSize): "
                    + "tokenizer and weights are of different models")
        }
    }

    /// The check `classify(batch:)` makes of one sequence; `index` is reported in the error.
    private func problem(with seq: [Int32], index i: Int) -> InferenceError? {
        guard !seq.isEmpty else { return .emptySequence(index: i) }
        guard seq.count <= budget else { return .sequenceTooLong(index: i, tokens: seq.count, budget: budget) }
        if let bad = seq.first(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            return .tokenOutOfRange(sequence: i, token: bad, vocabSize: config.vocabSize)
        }
        return nil
    }

    /// Classifies prepared texts, each on its own account: a text with a bad sequence (a token
    /// outside the vocabulary, one too long for the budget) fails alone, the others are
    /// scored together. `expired(i)` is asked before every forward pass for each text with
    /// windows still to compute, so a long text in window mode (~146 windows for 64 KiB) stops
    /// at its deadline instead of running for as long as it takes. Call from one thread at a time.
    public func classifyEach(
        _ prepared: [PreparedText], expired: (Int) -> Bool = { _ in false }
    ) -> [Result<Classification, InferenceError>] {
        var outcomes: [Result<Classification, InferenceError>?] = Array(repeating: nil, count: prepared.count)
        // (text, sequence) of every sequence to compute, in order.
        var work: [(text: Int, sequence: [Int32])] = []
        for (t, text) in prepared.enumerated() {
            if let problem = text.sequences.enumerated().lazy.compactMap({ self.problem(with: $1, index: $0) }).first {
                outcomes[t] = .failure(problem)
            } else if text.sequences.isEmpty {
                outcomes[t] = .failure(.emptySequence(index: 0))
            } else {
                work.append(contentsOf: text.sequences.map { (t, $0) })
            }
        }
        var scored: [[Classification]] = Array(repeating: [], count: prepared.count)
        var start = 0
        while start < work.count {
            // Texts whose deadline passed stop here; their remaining windows are skipped.
            var stopped = Set<Int>()
            for text in Set(work[start...].prefix(budget).map(\.text)) where outcomes[text] == nil && expired(text) {
                outcomes[text] = .failure(.deadlineExceeded(windowsDone: scored[text].count, windows: prepared[text].sequences.count))
                stopped.insert(text)
            }
            if !stopped.isEmpty {
                work = Array(work[..<start]) + work[start...].filter { !stopped.contains($0.text) }
                continue
            }
            var end = start
            var tokens = 0
            while end < work.count, tokens + work[end].sequence.count <= budget {
                tokens += work[end].sequence.count
                end += 1
            }
            let logits = transformer.forward(work[start..<end].map(\.sequence))
            for (offset, row) in logits.enumerated() { scored[work[start + offset].text].append(Classification(logits: row)) }
            start = end
        }
        return outcomes.enumerated().map { t, outcome in
            outcome ?? .success(prepared[t].score(scored[t]))
        }
    }

    /// Classifies token sequences (each as the tokenizer produced it, `<|begin_of_text|>`
    /// first). Batches longer than the token budget are split; results keep input order.
    /// Call from one thread at a time.
    public func classify(batch: [[Int32]]) throws(InferenceError) -> [Classification] {
        for (i, seq) in batch.enumerated() {
            if let problem = problem(with: seq, index: i) { throw problem }
        }
        var results: [Classification] = []
        results.reserveCapacity(batch.count)
        var start = 0
        while start < batch.count {
            var end = start
            var tokens = 0
            while end < batch.count, tokens + batch[end].count <= budget {
                tokens += batch[end].count
                end += 1
            }
            let logits = transformer.forward(Array(batch[start ..< end]))
            results.append(contentsOf: logits.map(Classification.init(logits:)))
            start = end
        }
        return results
    }
}
