import Foundation
import XCTest

/// deploy/ checked by the ecosystem's own tools, installed from PyPI into .venv
/// (scripts/requirements-ci.txt), all offline: yamllint (syntax, duplicate keys, style,
/// deploy/.yamllint.yml), kubernetes-validate (every built-in kind against the bundled
/// Kubernetes OpenAPI schemas, strict: unknown fields fail) and check-jsonschema (the
/// compose file against the Compose Specification schema it vendors). Each check is also
/// shown a broken copy, so a tool that silently checks nothing fails the test.
final class DeployLintTests: XCTestCase {
    private func tool(_ name: String) throws -> URL {
        let url = repositoryRoot.appendingPathComponent(".venv/bin/\(name)")
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw DeploySetupError("\(url.path) is missing: run `bash scripts/python-env.sh` (scripts/requirements-ci.txt)")
        }
        return url
    }

    private func path(_ relative: String) -> String { repositoryRoot.appendingPathComponent(relative).path }

    /// A copy of a deploy file with one line changed, in a temporary directory.
    private func brokenCopy(of relative: String, replacing old: String, with new: String) throws -> String {
        let text = try readText(relative)
        XCTAssertTrue(text.contains(old), "\(relative) no longer contains \(old.debugDescription): update the test's broken copy")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("duoguard-lint-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent((relative as NSString).lastPathComponent)
        try text.replacingOccurrences(of: old, with: new).write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testYAMLPassesYamllint() throws {
        let yamllint = try tool("yamllint")
        let config = path("deploy/.yamllint.yml")
        let result = try DeployTests.run(yamllint, ["--strict", "-f", "parsable", "-c", config, path("deploy")])
        XCTAssertEqual(result.status, 0, "yamllint --strict -c deploy/.yamllint.yml deploy:\n\(result.out)\(result.err)")
        // A duplicate key (the later one silently wins in most parsers) is an error.
        let broken = try brokenCopy(of: "deploy/kubernetes/service.yaml", replacing: "kind: Service", with: "kind: Service\nkind: Service")
        let refused = try DeployTests.run(yamllint, ["--strict", "-f", "parsable", "-c", config, broken])
        XCTAssertNotEqual(refused.status, 0, "yamllint accepted a duplicate key")
        XCTAssertTrue(refused.out.contains("key-duplicates"), refused.out)
    }

    func testKubernetesManifestsMatchTheKubernetesSchemas() throws {
        let validate = try tool("kubernetes-validate")
        let directory = path("deploy/kubernetes")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertFalse(files.isEmpty)
        let result = try DeployTests.run(validate, ["--strict"] + files.map { "\(directory)/\($0)" })
        let output = result.out + result.err
        XCTAssertEqual(result.status, 0, "kubernetes-validate --strict deploy/kubernetes:\n\(output)")
        // Built-in kinds must be checked, not skipped; only the custom resources (KEDA,
        // Prometheus operator) and kustomize's file have no bundled schema.
        for kind in ["deployment", "service", "configmap", "poddisruptionbudget", "persistentvolumeclaim", "job"] {
            XCTAssertTrue(output.contains("passed for resource \(kind)/"), "kubernetes-validate did not check a \(kind):\n\(output)")
        }
        for line in output.split(separator: "\n") where line.contains("Couldn't find schema") {
            let custom = ["Kustomization", "ScaledObject", "ServiceMonitor", "PrometheusRule"].contains { line.contains("kind \($0) ") }
            XCTAssertTrue(custom, "a built-in kind without a schema (an apiVersion typo?): \(line)")
        }
        let broken = try brokenCopy(of: "deploy/kubernetes/deployment.yaml", replacing: "containers:", with: "containerz:")
        let refused = try DeployTests.run(validate, ["--strict", broken])
        XCTAssertNotEqual(refused.status, 0, "kubernetes-validate accepted a misspelt field:\n\(refused.out)")
    }

    func testComposeFileMatchesTheComposeSpecification() throws {
        let check = try tool("check-jsonschema")
        let result = try DeployTests.run(check, ["--builtin-schema", "vendor.compose-spec", path("deploy/docker-compose.yml")])
        XCTAssertEqual(result.status, 0, "check-jsonschema (compose-spec) deploy/docker-compose.yml:\n\(result.out)\(result.err)")
        let broken = try brokenCopy(of: "deploy/docker-compose.yml", replacing: "services:", with: "servicez:")
        let refused = try DeployTests.run(check, ["--builtin-schema", "vendor.compose-spec", broken])
        XCTAssertNotEqual(refused.status, 0, "check-jsonschema accepted an unknown top-level key")
    }
}
