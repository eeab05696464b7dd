import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Inference
import Tokenizer

/// `duoguard tokenize`: prints the token ids the classifier would see, one JSON object per
/// input, so that a deployment's tokenizer file can be checked against the reference and
/// long inputs spotted (`truncated`).
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of texts, one JSON object per input.",
        discussion: """
            Inputs are the TEXT arguments; without them, each stdin line (split on \\n only) is \
            one input, or with --jsonl each stdin line is a JSON object {"text": "..."} (so a \
            text can hold newlines). Output per input: {"ids": [...], "truncated": false}, or \
            {"error": "..."} for input that is not valid UTF-8 / not valid JSON (exit status 1).
            """
    )

    @Option(name: .long, help: "A tokenizer.json file, a model directory holding one, or a .gguf model file.")
    var tokenizer: String

    @Flag(name: .long, help: "Do not add the post-processor's special tokens (no BOS).")
    var noSpecial = false

    @Option(name: .long, help: "Truncate to at most N ids (special tokens included), as the reference does.")
    var maxTokens: Int?

    @Flag(name: .long, help: "Read one JSON object {\"text\": ...} per stdin line.")
    var jsonl = false

    @Option(name: .long, help: ArgumentHelp("Benchmark: encode all inputs N times and print timings.", visibility: .hidden))
    var benchRepeat: Int?

    @Argument(help: "Texts to tokenize; read from stdin when absent.")
    var texts: [String] = []

    func validate() throws {
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
        if let benchRepeat, benchRepeat < 1 { throw ValidationError("--bench-repeat must be at least 1") }
    }

    func run() throws {
        let started = ContinuousClock.now
        let startedCPU = Self.threadCPUSeconds()
        let tok = try Self.loadTokenizer(tokenizer)  // errors print as "Error: ...", exit status 1
        let loadCPU = Self.threadCPUSeconds() - startedCPU
        let loaded = ContinuousClock.now

        var inputs: [Result<[UInt8], InputError>] = []
        if !texts.isEmpty {
            inputs = texts.map { .success(Array($0.utf8)) }
        } else {
            for line in Self.stdinLines() {
                inputs.append(jsonl ? Self.parseJSONLine(line) : .success(line))
            }
        }

        if let benchRepeat {
            try bench(tok, inputs: inputs, repeat: benchRepeat, loadTime: loaded - started, loadCPU: loadCPU)
            return
        }

        var out = OutputBuffer()
        var failed = false
        for input in inputs {
            switch input {
            case .success(let bytes):
                do {
                    let t = try tok.encode(utf8: bytes, addSpecialTokens: !noSpecial, maxTokens: maxTokens)
                    out.write("{\"ids\":[")
                    for (k, id) in t.ids.enumerated() {
                        if k > 0 { out.write(",") }
                        out.write(String(id))
                    }
                    out.write("],\"truncated\":\(t.truncated)}\n")
                } catch {
                    failed = true
                    out.write(JSONLines.line(["error": error.description]) + "\n")
                }
            case .failure(let error):
                failed = true
                out.write(JSONLines.line(["error": error.message]) + "\n")
            }
        }
        out.flush()
        if failed { throw ExitCode(1) }
    }

    /// Hidden measurement mode used by bench/tokenizer/run.sh: prints one JSON object with the
    /// load time and the single-thread encode throughput over all inputs.
    /// CPU time of the calling thread: on a machine shared with other builds, wall time
    /// measures the neighbours as much as the code.
    static func threadCPUSeconds() -> Double {
        #if canImport(Glibc)
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        #else
        return 0
        #endif
    }

    private func bench(
        _ tok: Tokenizer, inputs: [Result<[UInt8], InputError>], repeat count: Int, loadTime: Duration, loadCPU: Double
    ) throws {
        let texts = inputs.compactMap { try? $0.get() }.map { String(decoding: $0, as: UTF8.self) }
        var tokens = 0
        var bytes = 0
        for t in texts { bytes += t.utf8.count }
        let start = ContinuousClock.now
        let startCPU = Self.threadCPUSeconds()
        for _ in 0..<count {
            for t in texts { tokens += tok.encode(t, addSpecialTokens: !noSpecial, maxTokens: maxTokens).ids.count }
        }
        let cpu = Self.threadCPUSeconds() - startCPU
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let loadMS = (Double(loadTime.components.seconds) + Double(loadTime.components.attoseconds) * 1e-18) * 1000
        print(
            "{\"load_ms\":\(loadMS),\"load_cpu_ms\":\(loadCPU * 1000),\"cpu_tokens_per_s\":\(Double(tokens) / cpu),\"inputs\":\(texts.count),\"repeat\":\(count),\"bytes\":\(bytes * count),"
                + "\"tokens\":\(tokens),\"seconds\":\(seconds),\"tokens_per_s\":\(Double(tokens) / seconds)}")
    }

    /// The GGUF metadata key under which `duoguard convert` embeds the verbatim tokenizer.json
    /// (Inference's `GGUFNames.tokenizerJSON`, which is internal to that module).
    static let ggufTokenizerKey = "duoguard.tokenizer.json"

    /// Loads from a tokenizer.json, a directory holding one, or the copy embedded in a GGUF file.
    static func loadTokenizer(_ path: String) throws -> Tokenizer {
        if path.lowercased().hasSuffix(".gguf") {
            let file = try GGUFFile(path: path)
            guard let json = file[ggufTokenizerKey]?.stringValue else {
                throw ValidationError("\(path) has no \(ggufTokenizerKey) metadata (not written by duoguard convert?)")
            }
            return try Tokenizer(json: Data(json.utf8))
        }
        return try Tokenizer(contentsOf: URL(fileURLWithPath: path))
    }

    struct InputError: Error {
        var message: String
    }

    /// Stdin split on "\n" (the final line may lack it), as raw bytes: validity is checked by
    /// the tokenizer, not repaired by a line reader.
    static func stdinLines() -> [[UInt8]] {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        for b in data {
            if b == 0x0A {
                lines.append(current)
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(b)
            }
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    static func parseJSONLine(_ line: [UInt8]) -> Result<[UInt8], InputError> {
        guard let text = JSONLineInput.text(line) else { return .failure(InputError(message: "expected a JSON object with a string field \"text\"")) }
        return .success(Array(text.utf8))
    }

}

/// Buffers stdout writes: one `write` per 64 KiB instead of one per id.
struct OutputBuffer {
    private var buffer: [UInt8] = []

    mutating func write(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
