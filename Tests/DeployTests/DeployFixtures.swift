import Foundation
import TestSupport
import XCTest

/// Failures of the deploy checks that are about the environment, not the manifests.
struct DeploySetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The repository root, found from this file's path (Tests/DeployTests/<file>.swift).
let repositoryRoot: URL = RepositoryRoot.url

/// Runs a program; returns (status, stdout, stderr). A child still running after `timeout`
/// is killed (SIGKILL) and the test fails, so a stuck child cannot hang the suite.
func run(_ executable: URL, _ arguments: [String], timeout: Duration = .seconds(120)) throws -> (status: Int32, out: String, err: String) {
    let (status, out, err) = try ChildProcess.captureBlocking(executable.path, arguments, timeout: timeout)
    return (status ?? -1, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

func readText(_ relativePath: String) throws -> String {
    let url = repositoryRoot.appendingPathComponent(relativePath)
    guard let text = try? String(contentsOf: url, encoding: .utf8) else {
        throw DeploySetupError("cannot read \(relativePath) (looked at \(url.path))")
    }
    return text
}

// MARK: - `duoguard worker --help`

/// What the real binary accepts, from `duoguard worker --help`.
struct WorkerHelp {
    /// Every option name: "--brokers", "-X", "--log-text", ...
    let options: Set<String>
    /// The documented default of `--metrics-port`.
    let defaultMetricsPort: Int
    let text: String
    let binary: String

    static func load() throws -> WorkerHelp {
        let environment = ProcessInfo.processInfo.environment
        let path = environment["DUOGUARD_BINARY"].flatMap { $0.isEmpty ? nil : $0 }
            ?? repositoryRoot.appendingPathComponent(".build/debug/duoguard").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw DeploySetupError(
                "the duoguard binary is missing at \(path): build it first (`swift build --build-tests`, as "
                    + "scripts/test.sh does) or point DUOGUARD_BINARY at it")
        }
        let result = try run(URL(fileURLWithPath: path), ["worker", "--help"])
        guard result.status == 0 else {
            throw DeploySetupError("`\(path) worker --help` exited \(result.status): \(result.err)")
        }
        let text = result.out
        var options = Set<String>()
        var inOptions = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("OPTIONS:") { inOptions = true; continue }
            guard inOptions, line.hasPrefix("  "), !line.hasPrefix("          ") else { continue }
            // "  -h, --help   Show ..." / "  --input-topic <input-topic>" / "  -X <X>  ..."
            for token in line.split(separator: " ") {
                let name = token.hasSuffix(",") ? String(token.dropLast()) : String(token)
                if name.hasPrefix("-"), name.count > 1, !name.hasPrefix("<") { options.insert(name) } else { break }
            }
        }
        guard options.contains("--brokers") else {
            throw DeploySetupError("could not read the options of `duoguard worker --help`:\n\(text)")
        }
        // "--metrics-port <metrics-port>\n    Port of /metrics, /healthz, /readyz (default 9464; ..."
        let flat = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        guard let range = flat.range(of: "--metrics-port <metrics-port>"),
            let defaultRange = flat[range.upperBound...].range(of: "(default ")
        else { throw DeploySetupError("`duoguard worker --help` does not document --metrics-port's default") }
        let digits = flat[defaultRange.upperBound...].prefix { $0.isNumber }
        guard let port = Int(digits) else { throw DeploySetupError("unreadable --metrics-port default in the help") }
        return WorkerHelp(options: options, defaultMetricsPort: port, text: text, binary: path)
    }
}

// MARK: - deploy/ parsed

/// Every YAML document under deploy/ and the Dockerfile, read by the ecosystem's parsers
/// (PyYAML, dockerfile-parse: scripts/deploy-parse.py in .venv), not by parsers of our own.
struct DeployTree {
    /// Path relative to the repository root (e.g. "deploy/docker-compose.yml") → documents.
    let yaml: [String: [Any]]
    let dockerfile: Dockerfile

    static func load() throws -> DeployTree {
        let python = repositoryRoot.appendingPathComponent(".venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw DeploySetupError("\(python.path) is missing: run `bash scripts/python-env.sh` (PyYAML and dockerfile-parse read deploy/)")
        }
        let script = repositoryRoot.appendingPathComponent("scripts/deploy-parse.py").path
        let result = try run(python, [script, repositoryRoot.appendingPathComponent("deploy").path])
        guard result.status == 0 else { throw DeploySetupError("parsing deploy/ failed: \(result.err)") }
        guard let object = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any],
              let yaml = object["yaml"] as? [String: Any], let dockerfile = object["dockerfile"] as? [String: Any]
        else { throw DeploySetupError("scripts/deploy-parse.py printed no {yaml, dockerfile} object") }
        return DeployTree(yaml: yaml.mapValues { $0 as? [Any] ?? [] }, dockerfile: Dockerfile(parsed: dockerfile))
    }

    func documents(kind: String) -> [(file: String, doc: [String: Any])] {
        yaml.keys.sorted().flatMap { file in
            (yaml[file] ?? []).compactMap { $0 as? [String: Any] }.filter { $0["kind"] as? String == kind }.map { (file, $0) }
        }
    }

    func one(kind: String) throws -> [String: Any] {
        let found = documents(kind: kind)
        guard found.count == 1 else { throw DeploySetupError("expected exactly one \(kind) under deploy/kubernetes, found \(found.count)") }
        return found[0].doc
    }

    var compose: [String: Any] { (yaml["deploy/docker-compose.yml"]?.first as? [String: Any]) ?? [:] }
    var composeServices: [String: [String: Any]] {
        (compose["services"] as? [String: Any] ?? [:]).compactMapValues { $0 as? [String: Any] }
    }
}

/// deploy/Dockerfile as dockerfile-parse reads it (scripts/deploy-parse.py): instructions
/// with continuation lines joined and comments dropped, the final stage's `ENV`, the parent
/// images with `ARG` defaults substituted.
struct Dockerfile {
    let instructions: [(keyword: String, arguments: String)]
    /// `ENV` of the final stage: name → value.
    let finalStageEnvironment: [String: String]
    /// `ARG NAME=default` of every stage.
    let argumentDefaults: [String: String]
    /// The `FROM` images (not `scratch`), build arguments substituted.
    let baseImages: [String]

    init(parsed: [String: Any]) {
        instructions = array(parsed["instructions"]).compactMap { item in
            let pair = array(item).compactMap(string)
            return pair.count == 2 ? (pair[0].uppercased(), pair[1]) : nil
        }
        finalStageEnvironment = dictionary(parsed["finalEnvironment"]).compactMapValues(string)
        argumentDefaults = dictionary(parsed["argumentDefaults"]).compactMapValues(string)
        baseImages = array(parsed["parentImages"]).compactMap(string)
    }

    func all(_ keyword: String) -> [String] { instructions.filter { $0.keyword == keyword }.map(\.arguments) }

    /// The last instruction of a kind in JSON (exec) form.
    func execForm(_ keyword: String) -> [String]? {
        guard let text = all(keyword).last else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String]
    }
}

// MARK: - small helpers over parsed YAML

func string(_ value: Any?) -> String? {
    switch value {
    case let text as String: return text
    case let number as Int: return String(number)
    case let number as Double: return number == number.rounded() ? String(Int(number)) : String(number)
    case let number as NSNumber: return number.stringValue
    default: return nil
    }
}

func int(_ value: Any?) -> Int? { string(value).flatMap { Int($0) } }

func dictionary(_ value: Any?) -> [String: Any] { value as? [String: Any] ?? [:] }

func array(_ value: Any?) -> [Any] { value as? [Any] ?? [] }

/// `a.b.c` lookup through nested dictionaries.
func lookup(_ value: Any?, _ path: String) -> Any? {
    var current = value
    for key in path.split(separator: ".") { current = dictionary(current)[String(key)] }
    return current
}

/// "kafka-topics.sh ... --create ... --topic T --partitions N" lines → [T: N].
func createdTopics(in script: String) -> [String: Int] {
    var topics: [String: Int] = [:]
    for line in script.split(separator: "\n") where line.contains("--create") {
        let words = line.split(whereSeparator: \.isWhitespace).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
        guard let t = words.firstIndex(of: "--topic"), t + 1 < words.count else { continue }
        let partitions = words.firstIndex(of: "--partitions").flatMap { $0 + 1 < words.count ? Int(words[$0 + 1]) : nil }
        topics[words[t + 1]] = partitions ?? -1
    }
    return topics
}
