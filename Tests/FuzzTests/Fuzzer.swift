import Foundation
import TestSupport
import XCTest

/// Runs fuzz targets inside the test process, bounded in time, cases and memory.
///
/// Environment (all optional):
/// - `DUOGUARD_FUZZ_SECONDS`: time per target (default 2.5, about 25 s for the suite;
///   `scripts/fuzz.sh` uses 600).
/// - `DUOGUARD_FUZZ_SEED`: the run's seed (default 1, so the in-suite run is repeatable);
///   with `DUOGUARD_FUZZ_CASES` it reproduces the cases of a reported run exactly.
/// - `DUOGUARD_FUZZ_CASES`: stop after this many cases (default: time only).
/// - `DUOGUARD_FUZZ_CASE_TIMEOUT`: seconds one case may take before it counts as a hang (30).
/// - `DUOGUARD_FUZZ_MEMORY_MB`: address space allowed beyond what is mapped at the start (4096).
/// - `DUOGUARD_FUZZ_CRASH_DIR`: where a crashing input is saved (default .build/fuzz-crashes).
/// - `DUOGUARD_FUZZ_REPLAY`: run only this input file (a saved crash) through the target.
struct Fuzzer {
    struct Report: CustomStringConvertible {
        var target: String
        var seed: UInt64
        var cases = 0
        var accepted = 0
        var rejected = 0
        var corpus = 0
        var seconds = 0.0

        var description: String {
            "fuzz \(target): seed \(seed), \(cases) cases in \(String(format: "%.1f", seconds)) s "
                + "(\(accepted) accepted, \(rejected) rejected), corpus \(corpus), 0 crashes"
        }
    }

    var seconds: Double
    var seed: UInt64
    var maxCases: Int?
    var caseTimeout: Double
    var memoryHeadroom: Int
    var crashDirectory: String
    var replay: String?

    /// Most corpus entries kept per target (seeds plus accepted mutants).
    static let maxCorpus = 512

    static func fromEnvironment() -> Fuzzer {
        let env = ProcessInfo.processInfo.environment
        let root = RepositoryRoot.url
        return Fuzzer(
            seconds: env["DUOGUARD_FUZZ_SECONDS"].flatMap(Double.init) ?? 2.5,
            seed: env["DUOGUARD_FUZZ_SEED"].flatMap { UInt64($0) } ?? 1,
            maxCases: env["DUOGUARD_FUZZ_CASES"].flatMap { Int($0) },
            caseTimeout: env["DUOGUARD_FUZZ_CASE_TIMEOUT"].flatMap(Double.init) ?? 30,
            memoryHeadroom: (env["DUOGUARD_FUZZ_MEMORY_MB"].flatMap { Int($0) } ?? 4096) << 20,
            crashDirectory: env["DUOGUARD_FUZZ_CRASH_DIR"] ?? root.appendingPathComponent(".build/fuzz-crashes").path,
            replay: env["DUOGUARD_FUZZ_REPLAY"].flatMap { $0.isEmpty ? nil : $0 }
        )
    }

    /// Fuzzes `target`; returns what ran. A crash or hang ends the process (after saving the
    /// input); a thrown invariant violation fails the test with the input saved.
    @discardableResult
    func run(_ target: FuzzTarget, file: StaticString = #filePath, line: UInt = #line) -> Report {
        // A per-target seed, so that adding a target does not change another's cases.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in target.name.utf8 { hash = (hash ^ UInt64(b)) &* 0x100_0000_01B3 }
        let targetSeed = seed ^ hash
        var report = Report(target: target.name, seed: seed)
        try? FileManager.default.createDirectory(atPath: crashDirectory, withIntermediateDirectories: true)
        let crashPath = (crashDirectory as NSString).appendingPathComponent("\(target.name)-seed\(seed).crash")
        CrashRecorder.arm(target: target.name, path: crashPath)
        let watchdog = CaseWatchdog(timeout: caseTimeout)
        var memory = MemoryLimit()
        memory.apply(headroom: memoryHeadroom)
        defer {
            memory.restore()
            watchdog.stop()
            CrashRecorder.disarm()
        }

        var caseNumber = 0
        func runCase(_ input: [UInt8]) -> Bool? {
            caseNumber += 1
            CrashRecorder.begin(case: caseNumber, input: input)
            watchdog.caseBegins()
            defer { watchdog.caseEnds() }
            do {
                let accepted = try target.body(input)
                if accepted { report.accepted += 1 } else { report.rejected += 1 }
                return accepted
            } catch {
                CrashRecorder.saveInput(reason: "violated an invariant")
                XCTFail("fuzz \(target.name): case \(caseNumber) (seed \(seed)): \(error); input saved to \(crashPath)", file: file, line: line)
                return nil
            }
        }

        let start = Date()
        if let replay {
            guard let data = FileManager.default.contents(atPath: replay) else {
                XCTFail("DUOGUARD_FUZZ_REPLAY: cannot read \(replay)", file: file, line: line)
                return report
            }
            _ = runCase([UInt8](data))
            report.cases = caseNumber
            print("fuzz \(target.name): replayed \(replay) (\(data.count) bytes) without crashing")
            return report
        }

        var corpus: [[UInt8]] = []
        for seed in target.seeds {
            guard let accepted = runCase(seed) else { return report }
            XCTAssertTrue(accepted, "fuzz \(target.name): a seed is rejected (\(seed.count) bytes)", file: file, line: line)
            corpus.append(seed)
        }
        var seen = Set(corpus.map { $0.hashValue })
        var mutator = Mutator(seed: targetSeed, dictionary: target.dictionary, maxLength: target.maxLength)
        var rng = SplitMix64(seed: targetSeed &+ 1)
        while Date().timeIntervalSince(start) < seconds, caseNumber < (maxCases ?? Int.max) {
            let base = corpus[rng.below(corpus.count)]
            let input = mutator.mutate(base, corpus: corpus)
            guard let accepted = runCase(input) else { break }
            if accepted, seen.insert(input.hashValue).inserted {
                if corpus.count < Self.maxCorpus {
                    corpus.append(input)
                } else {
                    // Keep the seeds; replace a mutant.
                    corpus[target.seeds.count + rng.below(Self.maxCorpus - target.seeds.count)] = input
                }
            }
        }
        report.cases = caseNumber
        report.corpus = corpus.count
        report.seconds = Date().timeIntervalSince(start)
        print(report)
        return report
    }
}
