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

/// Every YAML document under deploy/ (parsed by PyYAML in .venv) and the Dockerfile.
struct DeployTree {
    /// Path relative to the repository root (e.g. "deploy/docker-compose.yml") → documents.
    let yaml: [String: [Any]]
    let dockerfile: Dockerfile

    static func load() throws -> DeployTree {
        DeployTree(yaml: try parseYAML(), dockerfile: Dockerfile(text: try readText("deploy/Dockerfile")))
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

    static let parser = """
        import json, pathlib, sys
        try:
            import yaml
        except ImportError as error:
            sys.exit(f"PyYAML is not installed in .venv ({error}); bash scripts/python-env.sh installs scripts/requirements-ci.txt")
        deploy = pathlib.Path(sys.argv[1])
        documents, errors = {}, []
        for path in sorted(list(deploy.rglob("*.yml")) + list(deploy.rglob("*.yaml"))):
            name = str(path.relative_to(deploy.parent))
            try:
                documents[name] = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
            except Exception as error:
                errors.append(f"{name}: {error}")
        if errors:
            sys.exit("YAML that does not parse:\\n" + "\\n".join(errors))
        json.dump(documents, sys.stdout, default=str)
        """

    static func parseYAML() throws -> [String: [Any]] {
        let python = repositoryRoot.appendingPathComponent(".venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw DeploySetupError("\(python.path) is missing: run `bash scripts/python-env.sh` (PyYAML parses deploy/*.yml)")
        }
        let result = try run(python, ["-c", parser, repositoryRoot.appendingPathComponent("deploy").path])
        guard result.status == 0 else { throw DeploySetupError("parsing deploy/ YAML failed: \(result.err)") }
        guard let object = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any] else {
            throw DeploySetupError("the YAML parser printed no JSON object")
        }
        return object.mapValues { $0 as? [Any] ?? [] }
    }
}

/// A Dockerfile as instructions (continuation lines joined, comments dropped).
struct Dockerfile {
    let instructions: [(keyword: String, arguments: String)]

    init(text: String) {
        var result: [(String, String)] = []
        var current = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { continue }
            if line.hasSuffix("\\") {
                current += line.dropLast() + " "
                continue
            }
            current += line
            let joined = current.trimmingCharacters(in: .whitespaces)
            current = ""
            guard !joined.isEmpty else { continue }
            let keyword = joined.prefix { !$0.isWhitespace }
            result.append((keyword.uppercased(), joined.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces)))
        }
        instructions = result
    }

    func all(_ keyword: String) -> [String] { instructions.filter { $0.keyword == keyword }.map(\.arguments) }

    /// The last instruction of a kind in JSON (exec) form.
    func execForm(_ keyword: String) -> [String]? {
        guard let text = all(keyword).last else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String]
    }

    /// `ENV` of the final stage: name → value.
    var finalStageEnvironment: [String: String] {
        var env: [String: String] = [:]
        for (keyword, arguments) in instructions {
            if keyword == "FROM" { env = [:] }
            guard keyword == "ENV" else { continue }
            let words = arguments.split(whereSeparator: \.isWhitespace).map(String.init)
            if let first = words.first, !first.contains("=") {
                env[first] = words.dropFirst().joined(separator: " ")
            } else {
                for word in words {
                    let parts = word.split(separator: "=", maxSplits: 1).map(String.init)
                    env[parts[0]] = parts.count > 1 ? parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) : ""
                }
            }
        }
        return env
    }

    /// `ARG NAME=default` before and inside stages.
    var argumentDefaults: [String: String] {
        var defaults: [String: String] = [:]
        for arguments in all("ARG") {
            let parts = arguments.split(separator: "=", maxSplits: 1).map(String.init)
            defaults[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return defaults
    }

    /// FROM images with `${ARG}` replaced by the argument defaults.
    var baseImages: [String] {
        let defaults = argumentDefaults
        return all("FROM").map { arguments in
            var image = String(arguments.split(separator: " ").first ?? "")
            for (name, value) in defaults { image = image.replacingOccurrences(of: "${\(name)}", with: value) }
            return image
        }
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
