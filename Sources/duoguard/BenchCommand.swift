import ArgumentParser
import Foundation
import Inference

#if canImport(Glibc)
import Glibc
#endif

/// `duoguard bench`: end-to-end throughput of the classifier on synthetic requests.
///
/// This is the Swift side of `bench/model/run.py`, which runs llama.cpp and PyTorch on the
/// same weights in the same session and compares. It prints one JSON object per request
/// length, so the harness (or a person) can compare runs without parsing prose.
///
/// The machine this project runs on is shared, so every point reports both wall-clock and
/// process CPU time: `cpu_tokens_per_s` = tokens / (CPU seconds / threads) is what the
/// engine would do on otherwise idle cores, and is the figure to compare across engines when
/// other processes compete for the CPU.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure tokens/s and requests/s of the classifier (not a test; see bench/model).",
        discussion: """
            For each request length, deterministic pseudo-random token ids (<|begin_of_text|> first) \
            are classified in batches of at most --batch-tokens tokens. One JSON object per \
            length is printed: wall and CPU tokens/s, requests/s, peak RSS. With --score-ids FILE \
            (one JSON array of token ids per line, or objects with an "ids" array) it prints the \
            12 logits per line instead (accuracy comparisons).
            """
    )

    @Option(name: .long, help: "A .gguf file written by `duoguard convert`.")
    var model: String

    @Option(name: .long, parsing: .upToNextOption, help: "Request lengths in tokens.")
    var lengths: [Int] = [16, 64, 128, 512]

    @Option(name: .long, help: "Tokens classified per length and repetition (at least one request).")
    var tokens: Int = 512

    @Option(name: .long, help: "Most tokens per forward pass (default \(ModelOptions().batchTokenBudget), the worker's).")
    var batchTokens: Int = ModelOptions().batchTokenBudget

    @Option(name: .long, help: "Repetitions per length; the fastest (least CPU time) is reported, and the median too.")
    var repeats: Int = 1

    @Option(name: .long, help: "Weight format in memory: stored (the file's) or q8_r (per-row int8, requantized at load).")
    var weightFormat: String = WeightFormat.stored.rawValue

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Seed of the token ids.")
    var seed: UInt64 = 7

    @Option(name: .long, help: ArgumentHelp("Packed weights: beside (default), private or a DIRECTORY (as the worker's --packed-weights).",
                                            valueName: "beside|private|DIRECTORY"))
    var packedWeights: String?

    @Option(name: .long, help: "After the lengths, print {\"ready\":...} and keep the model loaded this many seconds (memory measurements: bench/memory).")
    var hold: Double?

    @Option(name: .long, help: "Score the token-id lists of this file (one per line) and print logits instead of timing.")
    var scoreIds: String?

    func validate() throws {
        guard lengths.allSatisfy({ $0 >= 1 && $0 <= batchTokens }) else {
            throw ValidationError("every --lengths value must be within 1...--batch-tokens")
        }
        guard tokens >= 1, repeats >= 1 else { throw ValidationError("--tokens and --repeats must be at least 1") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard WeightFormat(rawValue: weightFormat) != nil else {
            throw ValidationError("--weight-format must be one of \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        let loadStart = Self.now()
        let storage = try packedWeights.map(ModelArguments.storage)
        let loaded = try DuoGuardModel.load(path: model, options: ModelOptions(
            threads: threads, batchTokenBudget: batchTokens, weightFormat: WeightFormat(rawValue: weightFormat), packedWeights: storage))
        let loadSeconds = Self.now() - loadStart
        if let scoreIds {
            try score(file: scoreIds, model: loaded)
            return
        }
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        var rng = SplitMix64(seed: seed)
        // Warm-up: touches every weight page (the file is mapped) and the run state once,
        // so the first length does not pay the page faults.
        _ = try loaded.classify(batch: [Self.randomIDs(count: 8, rng: &rng, vocab: loaded.config.vocabSize)])
        for length in lengths {
            let requests = max(1, tokens / length)
            let batch = (0 ..< requests).map { _ in Self.randomIDs(count: length, rng: &rng, vocab: loaded.config.vocabSize) }
            var runs: [(wall: Double, cpu: Double)] = []
            for _ in 0 ..< repeats {
                let (w0, c0) = (Self.now(), Self.cpuSeconds())
                _ = try loaded.classify(batch: batch)
                runs.append((Self.now() - w0, Self.cpuSeconds() - c0))
            }
            let best = runs.min { $0.cpu < $1.cpu }!
            let medianWall = runs.map(\.wall).sorted()[runs.count / 2]
            let total = Double(requests * length)
            let fields: [(String, String)] = [
                ("engine", "\"duoguard\""),
                ("type", "\"\(loaded.identity.quantization.lowercased())\""),
                ("kernels", "\"\(loaded.kernelName)\""),
                ("threads", "\(threadCount)"),
                ("length", "\(length)"),
                ("requests", "\(requests)"),
                ("batch_tokens", "\(batchTokens)"),
                ("wall_s", Self.fmt(best.wall)),
                ("cpu_s", Self.fmt(best.cpu)),
                ("median_wall_s", Self.fmt(medianWall)),
                ("tokens_per_s", Self.fmt(total / best.wall)),
                ("requests_per_s", Self.fmt(Double(requests) / best.wall)),
                ("cpu_tokens_per_s", Self.fmt(total / (best.cpu / Double(threadCount)))),
                ("cpu_requests_per_s", Self.fmt(Double(requests) / (best.cpu / Double(threadCount)))),
                ("peak_rss_mb", Self.fmt(Self.peakRSSMegabytes())),
                ("load_s", Self.fmt(loadSeconds)),
                ("packed_weights_shared", "\(loaded.packedWeights.isShared)"),
            ]
            print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
            fflush(nil) // a line per length as it completes, even through a pipe
        }
        if let hold {
            // Every weight page has been read once (warm-up and lengths): what the process
            // holds now is what a serving worker holds.
            struct Ready: Encodable { var ready = true; var load_s: Double; var pid: Int32; var packed_weights: String }
            print(JSONLines.line(Ready(load_s: loadSeconds, pid: getpid(), packed_weights: loaded.packedWeights.description)))
            fflush(nil)
            Thread.sleep(forTimeInterval: max(0, hold))
        }
    }

    /// Prints `{"logits": [...]}` per input line, classifying in budget-sized batches.
    private func score(file: String, model: DuoGuardModel) throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ValidationError("cannot read \(file)")
        }
        var batch: [[Int32]] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let ids = JSONLineInput.ids(Array(line.utf8)), !ids.isEmpty else {
                throw ValidationError("line \(number + 1): expected a non-empty JSON array of token ids")
            }
            batch.append(Array(ids.prefix(batchTokens)))
        }
        for result in try model.classify(batch: batch) {
            print("{\"logits\":[" + result.logits.map { "\($0)" }.joined(separator: ",") + "]}")
        }
    }

    static func randomIDs(count: Int, rng: inout SplitMix64, vocab: Int) -> [Int32] {
        // Ids below 128000 are ordinary text tokens; begin-of-text first, as the tokenizer does.
        let textVocab = UInt64(min(vocab, 128_000))
        return [Int32(min(128_000, vocab - 1))] + (1 ..< max(count, 1)).map { _ in Int32(rng.next() % textVocab) }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// User + system CPU time of the whole process (all threads).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
        return user + system
    }

    /// Peak resident set (Linux reports ru_maxrss in KiB), mapped weight pages included.
    static func peakRSSMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    static func fmt(_ x: Double) -> String { String(format: "%.4f", x) }
}

/// A tiny deterministic generator, so every engine of a run sees the same token ids.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_133E_B62B
        return z ^ (z >> 31)
    }
}
