import Foundation
import XCTest

/// Static checks of deploy/ (no Docker daemon or cluster here): every YAML file parses, the
/// worker options the manifests use are real options of the built `duoguard` binary, ports,
/// probes and scrape targets match the binary's metrics server, KEDA's ceiling matches the
/// input topic's partitions, and alert rules use metrics the worker exports.
final class DeployManifestTests: XCTestCase {
    /// One place that starts `duoguard worker`: its arguments and environment.
    struct WorkerSite {
        let name: String
        let arguments: [String]
        /// DUOGUARD_* and other variables; nil value = set from elsewhere (valueFrom).
        let environment: [String: String?]

        /// The value the worker will see for an option: the flag wins, then DUOGUARD_<NAME>.
        func value(of option: String) -> String?? {
            var index = 0
            var found: String?? = nil
            while index < arguments.count {
                let argument = arguments[index]
                if argument == option, index + 1 < arguments.count {
                    found = .some(arguments[index + 1])
                } else if argument.hasPrefix(option + "=") {
                    found = .some(String(argument.dropFirst(option.count + 1)))
                }
                index += 1
            }
            if found != nil { return found }
            let variable = "DUOGUARD_" + option.dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[variable] { return .some(value) }
            return nil
        }
    }

    static let requiredOptions = ["--brokers", "--group", "--input-topic", "--output-topic", "--dlq-topic", "--model"]
    static let endpoints = ["/metrics", "/healthz", "/readyz"]

    // MARK: gathering

    func workerSites(_ tree: DeployTree) throws -> [WorkerSite] {
        let imageEnvironment = tree.dockerfile.finalStageEnvironment.mapValues { Optional($0) }
        var sites: [WorkerSite] = []
        sites.append(WorkerSite(name: "deploy/Dockerfile", arguments: Array((tree.dockerfile.execForm("ENTRYPOINT") ?? []).dropFirst(2)) + (tree.dockerfile.execForm("CMD") ?? []), environment: imageEnvironment))

        for (name, service) in tree.composeServices.sorted(by: { $0.key < $1.key }) {
            let dockerfile = string(lookup(service, "build.dockerfile")) ?? ""
            guard dockerfile.hasSuffix("deploy/Dockerfile") else { continue }
            if let entrypoint = service["entrypoint"] {
                XCTFail("compose service \(name) overrides the entrypoint (\(entrypoint)); the image's is `duoguard worker`")
            }
            let command: [String]
            if let text = service["command"] as? String {
                command = text.split(whereSeparator: \.isWhitespace).map(String.init)
            } else {
                command = array(service["command"]).compactMap(string)
            }
            var environment = imageEnvironment
            if let list = service["environment"] as? [Any] {
                for entry in list.compactMap(string) {
                    let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                    environment[parts[0]] = parts.count > 1 ? parts[1] : nil
                }
            } else {
                for (key, value) in dictionary(service["environment"]) { environment[key] = string(value) }
            }
            sites.append(WorkerSite(name: "docker-compose service \(name)", arguments: command, environment: environment))
        }

        let configMaps = Dictionary(
            tree.documents(kind: "ConfigMap").map { (string(lookup($0.doc, "metadata.name")) ?? "", dictionary($0.doc["data"])) },
            uniquingKeysWith: { first, _ in first })
        for (file, deployment) in tree.documents(kind: "Deployment") {
            for container in array(lookup(deployment, "spec.template.spec.containers")).map(dictionary) {
                guard (string(container["image"]) ?? "").contains("duoguard") else { continue }
                let containerName = string(container["name"]) ?? "?"
                var arguments = array(container["args"]).compactMap(string)
                if let command = container["command"] {
                    let words = array(command).compactMap(string)
                    XCTAssertEqual(Array(words.prefix(2)).map { ($0 as NSString).lastPathComponent }, ["duoguard", "worker"], "\(file): container \(containerName) command must run `duoguard worker`")
                    arguments = Array(words.dropFirst(2)) + arguments
                }
                var environment = imageEnvironment
                for source in array(container["envFrom"]).map(dictionary) {
                    guard let reference = string(lookup(source, "configMapRef.name")) else { continue }
                    guard let data = configMaps[reference] else {
                        XCTFail("\(file): envFrom references ConfigMap \(reference), which deploy/kubernetes does not define")
                        continue
                    }
                    for (key, value) in data { environment[key] = string(value) }
                }
                for variable in array(container["env"]).map(dictionary) {
                    guard let key = string(variable["name"]) else { continue }
                    environment[key] = string(variable["value"])
                }
                sites.append(WorkerSite(name: "\(file) container \(containerName)", arguments: arguments, environment: environment))
            }
        }
        return sites
    }

    /// The metrics port a site's worker listens on.
    func metricsPort(of site: WorkerSite, help: WorkerHelp) -> Int? {
        switch site.value(of: "--metrics-port") {
        case .none: return help.defaultMetricsPort
        case .some(.none): return nil
        case .some(.some(let text)): return Int(text)
        }
    }

    // MARK: tests

    func testEveryYAMLFileParses() throws {
        let tree = try DeployTree.load()
        let expected = [
            "deploy/docker-compose.yml", "deploy/prometheus/prometheus.yml", "deploy/prometheus/alerts.yml",
            "deploy/kubernetes/deployment.yaml", "deploy/kubernetes/configmap.yaml", "deploy/kubernetes/scaledobject.yaml",
        ]
        for file in expected {
            XCTAssertFalse(tree.yaml[file]?.isEmpty ?? true, "\(file) is missing or empty")
        }
        for (file, documents) in tree.yaml {
            for document in documents where file.hasPrefix("deploy/kubernetes/") {
                let object = dictionary(document)
                XCTAssertNotNil(object["apiVersion"], "\(file): a document without apiVersion")
                XCTAssertNotNil(object["kind"], "\(file): a document without kind")
            }
        }
        // kustomization.yaml lists every manifest of the directory.
        let kustomization = try XCTUnwrap(tree.yaml["deploy/kubernetes/kustomization.yaml"]?.first)
        let listed = Set(array(dictionary(kustomization)["resources"]).compactMap(string))
        let present = Set(tree.yaml.keys.filter { $0.hasPrefix("deploy/kubernetes/") && !$0.hasSuffix("kustomization.yaml") }
            .map { String($0.dropFirst("deploy/kubernetes/".count)) })
        XCTAssertEqual(listed, present, "deploy/kubernetes/kustomization.yaml resources differ from the files in the directory")
    }

    func testWorkerFlagsAndEnvironmentAreRealOptions() throws {
        let help = try WorkerHelp.load()
        let tree = try DeployTree.load()
        // The binary reads DUOGUARD_<NAME> in its worker command: each variable set here must be read there.
        let commandSources = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("Sources/duoguard").path)
            .filter { $0.hasSuffix(".swift") }.map { try readText("Sources/duoguard/\($0)") }.joined()
        let sites = try workerSites(tree)
        XCTAssertGreaterThanOrEqual(sites.count, 4, "expected the Dockerfile, two compose workers and the Deployment: \(sites.map(\.name))")

        var docsArguments: [String] = []
        // Command lines of the page's code blocks (indented) that run the worker.
        for line in try readText("docs/deploy.md").split(separator: "\n") where line.hasPrefix("    ") && line.contains("duoguard worker") {
            let words = line.split(whereSeparator: \.isWhitespace).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "`\\")) }
            if let start = words.firstIndex(of: "worker") { docsArguments += words[(start + 1)...] }
        }
        let allSites = sites + [WorkerSite(name: "docs/deploy.md", arguments: docsArguments, environment: [:])]

        for site in allSites {
            var index = 0
            while index < site.arguments.count {
                let argument = site.arguments[index]
                index += 1
                guard argument.hasPrefix("-"), argument != "-" else { continue }
                let name = String(argument.split(separator: "=", maxSplits: 1)[0])
                XCTAssertTrue(help.options.contains(name), "\(site.name): `\(name)` is not an option of `duoguard worker` (\(help.binary) worker --help)")
                if name == "-X" { index += 1 }
            }
            for (variable, value) in site.environment where variable.hasPrefix("DUOGUARD_") {
                let suffix = String(variable.dropFirst("DUOGUARD_".count))
                let flag = "--" + suffix.lowercased().replacingOccurrences(of: "_", with: "-")
                XCTAssertTrue(help.options.contains(flag), "\(site.name): \(variable) does not correspond to an option of `duoguard worker` (no \(flag) in --help)")
                XCTAssertTrue(
                    commandSources.contains("\"\(suffix)\"") || commandSources.contains("DUOGUARD_\(suffix)"),
                    "\(site.name): \(variable) is never read by Sources/duoguard (no env fallback for \(flag))")
                if variable == "DUOGUARD_LOG_TEXT", let value {
                    XCTAssertTrue(value == "1" || value == "0", "\(site.name): DUOGUARD_LOG_TEXT is enabled only by \"1\", not \"\(value)\"")
                }
            }
            guard site.name != "docs/deploy.md" else { continue }
            if site.name == "deploy/Dockerfile" {
                XCTAssertEqual(tree.dockerfile.execForm("ENTRYPOINT"), ["duoguard", "worker"], "deploy/Dockerfile: ENTRYPOINT must be [\"duoguard\", \"worker\"]")
                continue  // the image leaves the Kafka settings to the deployment
            }
            for option in Self.requiredOptions {
                XCTAssertTrue(site.value(of: option) != nil, "\(site.name): the worker needs \(option) (or its DUOGUARD_* variable) and gets neither")
            }
        }
    }

    func testPortsProbesAndScrapeTargetsMatchTheBinary() throws {
        let help = try WorkerHelp.load()
        let tree = try DeployTree.load()
        let port = help.defaultMetricsPort
        XCTAssertEqual(port, 9464, "docs/operations.md documents 9464 as --metrics-port's default")
        // The endpoints the binary serves.
        let workerSources = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("Sources/Worker").path)
            .filter { $0.hasSuffix(".swift") }.map { try readText("Sources/Worker/\($0)") }.joined()
        for endpoint in Self.endpoints {
            XCTAssertTrue(workerSources.contains("case \"\(endpoint)\""), "Sources/Worker no longer serves \(endpoint)")
        }
        let sites = try workerSites(tree)
        for site in sites {
            XCTAssertEqual(metricsPort(of: site, help: help), port, "\(site.name): metrics port differs from \(port)")
        }

        // Dockerfile.
        let dockerfile = tree.dockerfile
        XCTAssertTrue(dockerfile.all("EXPOSE").joined(separator: " ").split(separator: " ").contains { $0 == "\(port)" || $0 == "\(port)/tcp" }, "deploy/Dockerfile must EXPOSE \(port)")
        for healthcheck in dockerfile.all("HEALTHCHECK") {
            XCTAssertTrue(healthcheck.contains("/healthz") && healthcheck.contains("\(port)"), "deploy/Dockerfile HEALTHCHECK should probe /healthz on \(port): \(healthcheck)")
        }

        // Prometheus (compose) scrapes every worker service on the metrics port at /metrics.
        let prometheus = dictionary(try XCTUnwrap(tree.yaml["deploy/prometheus/prometheus.yml"]?.first))
        var targets: Set<String> = []
        for job in array(prometheus["scrape_configs"]).map(dictionary) where string(job["job_name"]) == "duoguard-worker" {
            XCTAssertEqual(string(job["metrics_path"]) ?? "/metrics", "/metrics", "prometheus.yml: metrics_path")
            for config in array(job["static_configs"]).map(dictionary) { targets.formUnion(array(config["targets"]).compactMap(string)) }
        }
        let composeWorkers = tree.composeServices.filter { (string(lookup($0.value, "build.dockerfile")) ?? "").hasSuffix("deploy/Dockerfile") }.keys
        XCTAssertGreaterThanOrEqual(composeWorkers.count, 2, "docker-compose.yml should run two workers")
        XCTAssertEqual(targets, Set(composeWorkers.map { "\($0):\(port)" }), "prometheus.yml job duoguard-worker must scrape every compose worker on \(port)")

        // Kubernetes: container port, probes, Service, ServiceMonitor.
        let deployment = try tree.one(kind: "Deployment")
        let containers = array(lookup(deployment, "spec.template.spec.containers")).map(dictionary).filter { (string($0["image"]) ?? "").contains("duoguard") }
        XCTAssertEqual(containers.count, 1, "the Deployment should have one duoguard container")
        let container = try XCTUnwrap(containers.first)
        let metricsPorts = array(container["ports"]).map(dictionary).filter { string($0["name"]) == "metrics" }
        XCTAssertEqual(metricsPorts.compactMap { int($0["containerPort"]) }, [port], "Deployment: containerPort named `metrics` must be \(port)")
        func checkProbe(_ key: String, _ path: String, required: Bool = true) {
            guard let probe = container[key] else {
                if required { XCTFail("Deployment: \(key) is missing") }
                return
            }
            XCTAssertEqual(string(lookup(probe, "httpGet.path")), path, "Deployment: \(key) must GET \(path)")
            let probePort = string(lookup(probe, "httpGet.port"))
            XCTAssertTrue(probePort == "metrics" || probePort == "\(port)", "Deployment: \(key) must use port `metrics` (\(port)), not \(probePort ?? "nil")")
        }
        checkProbe("readinessProbe", "/readyz")
        checkProbe("livenessProbe", "/healthz")
        checkProbe("startupProbe", "/healthz", required: false)

        let podLabels = dictionary(lookup(deployment, "spec.template.metadata.labels")).compactMapValues(string)
        let service = try tree.one(kind: "Service")
        let serviceSelector = dictionary(lookup(service, "spec.selector")).compactMapValues(string)
        XCTAssertFalse(serviceSelector.isEmpty)
        XCTAssertTrue(serviceSelector.allSatisfy { podLabels[$0.key] == $0.value }, "Service selector \(serviceSelector) does not select the worker pods \(podLabels)")
        let servicePorts = array(lookup(service, "spec.ports")).map(dictionary)
        XCTAssertTrue(
            servicePorts.contains { int($0["port"]) == port && (string($0["targetPort"]) == "metrics" || int($0["targetPort"]) == port) },
            "Service must expose \(port) → the container's metrics port")
        for (file, monitor) in tree.documents(kind: "ServiceMonitor") {
            for endpoint in array(lookup(monitor, "spec.endpoints")).map(dictionary) {
                XCTAssertEqual(string(endpoint["port"]), "metrics", "\(file): ServiceMonitor port")
                XCTAssertEqual(string(endpoint["path"]) ?? "/metrics", "/metrics", "\(file): ServiceMonitor path")
            }
        }
    }

    func testKubernetesWorkloadShape() throws {
        let tree = try DeployTree.load()
        let deployment = try tree.one(kind: "Deployment")
        let pod = dictionary(lookup(deployment, "spec.template.spec"))
        let grace = try XCTUnwrap(int(pod["terminationGracePeriodSeconds"]), "Deployment: set terminationGracePeriodSeconds")
        XCTAssertGreaterThanOrEqual(grace, 45, "shutdown drains up to 30 s; terminationGracePeriodSeconds must be ≥ 45")
        let container = try XCTUnwrap(array(pod["containers"]).map(dictionary).first { (string($0["image"]) ?? "").contains("duoguard") })
        let nonRoot = (lookup(pod, "securityContext.runAsNonRoot") as? Bool) ?? (lookup(container, "securityContext.runAsNonRoot") as? Bool)
        XCTAssertEqual(nonRoot, true, "Deployment: securityContext.runAsNonRoot must be true")
        XCTAssertNotNil(lookup(container, "resources.requests.cpu"), "Deployment: set CPU requests")
        XCTAssertNotNil(lookup(container, "resources.limits.memory"), "Deployment: set a memory limit")

        // The model file's directory is a mounted volume.
        let site = try XCTUnwrap(try workerSites(tree).first { $0.name.contains("Deployment") || $0.name.contains("deployment.yaml") })
        let model = try XCTUnwrap(site.value(of: "--model") ?? nil, "Deployment: no model path")
        // The stop's limit is the grace period, so the worker checks its timeouts against it at start.
        let limit = try XCTUnwrap(site.value(of: "--shutdown-limit-ms") ?? nil, "Deployment: set DUOGUARD_SHUTDOWN_LIMIT_MS")
        XCTAssertEqual(Int(limit), grace * 1_000, "Deployment: DUOGUARD_SHUTDOWN_LIMIT_MS must equal terminationGracePeriodSeconds")
        let mounts = array(container["volumeMounts"]).map(dictionary).compactMap { string($0["mountPath"]) }
        XCTAssertTrue(mounts.contains { model.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }, "Deployment: \(model) is not on a mounted volume (\(mounts))")

        let podLabels = dictionary(lookup(deployment, "spec.template.metadata.labels")).compactMapValues(string)
        let pdb = try tree.one(kind: "PodDisruptionBudget")
        let pdbSelector = dictionary(lookup(pdb, "spec.selector.matchLabels")).compactMapValues(string)
        XCTAssertFalse(pdbSelector.isEmpty, "PodDisruptionBudget needs a selector")
        XCTAssertTrue(pdbSelector.allSatisfy { podLabels[$0.key] == $0.value }, "PodDisruptionBudget selector does not match the worker pods")

        // Compose: real Apache Kafka in KRaft mode, never the local test broker.
        let kafka = try XCTUnwrap(tree.composeServices["kafka"], "docker-compose.yml: no kafka service")
        XCTAssertTrue((string(kafka["image"]) ?? "").hasPrefix("apache/kafka:"), "docker-compose.yml: kafka must be Apache Kafka (apache/kafka)")
        XCTAssertTrue((string(lookup(kafka, "environment.KAFKA_PROCESS_ROLES")) ?? "").contains("controller"), "docker-compose.yml: Kafka must run in KRaft mode")
        let deployFiles = FileManager.default.enumerator(atPath: repositoryRoot.appendingPathComponent("deploy").path)?.compactMap { $0 as? String } ?? []
        for file in deployFiles where !file.hasPrefix("models") {
            let text = (try? String(contentsOf: repositoryRoot.appendingPathComponent("deploy/\(file)"), encoding: .utf8)) ?? ""
            XCTAssertFalse(text.lowercased().contains("tansu"), "deploy/\(file) refers to the local test broker; deploy targets Apache Kafka")
        }
        let workers = try workerSites(tree).filter { $0.name.hasPrefix("docker-compose") }
        XCTAssertEqual(Set(workers.compactMap { $0.value(of: "--group") ?? nil }).count, 1, "compose workers must share one consumer group")
    }

    func testAutoscalingCeilingEqualsInputPartitions() throws {
        let tree = try DeployTree.load()
        let configMap = try tree.one(kind: "ConfigMap")
        let data = dictionary(configMap["data"]).compactMapValues(string)
        let inputTopic = try XCTUnwrap(data["DUOGUARD_INPUT_TOPIC"], "ConfigMap: DUOGUARD_INPUT_TOPIC")
        XCTAssertFalse(inputTopic.contains(","), "the KEDA trigger covers one topic; use one input topic")

        // Partitions created by compose's topic service and by the Kubernetes Job.
        var created: [(source: String, topics: [String: Int])] = []
        for (name, service) in tree.composeServices {
            let script = (array(service["command"]).compactMap(string) + [string(service["command"]) ?? ""]).joined(separator: "\n")
            let topics = createdTopics(in: script)
            if !topics.isEmpty { created.append(("docker-compose service \(name)", topics)) }
        }
        for (file, job) in tree.documents(kind: "Job") {
            for container in array(lookup(job, "spec.template.spec.containers")).map(dictionary) {
                let script = (array(container["command"]) + array(container["args"])).compactMap(string).joined(separator: "\n")
                let topics = createdTopics(in: script)
                if !topics.isEmpty { created.append(("\(file) Job", topics)) }
            }
        }
        XCTAssertEqual(created.count, 2, "expected topic creation in docker-compose.yml and in a Kubernetes Job: \(created.map(\.source))")
        let deployment = try tree.one(kind: "Deployment")
        let site = try XCTUnwrap(try workerSites(tree).first { $0.name.contains("deployment.yaml") })
        for (source, topics) in created {
            let compose = source.hasPrefix("docker-compose")
            let worker = compose ? try XCTUnwrap(try workerSites(tree).first { $0.name.hasPrefix("docker-compose") }) : site
            for option in ["--input-topic", "--output-topic", "--dlq-topic"] {
                let topic = try XCTUnwrap(worker.value(of: option) ?? nil)
                XCTAssertNotNil(topics[topic], "\(source) does not create \(topic) (\(option) of \(worker.name))")
            }
        }

        let scaled = try tree.one(kind: "ScaledObject")
        XCTAssertEqual(string(lookup(scaled, "spec.scaleTargetRef.name")), string(lookup(deployment, "metadata.name")), "ScaledObject must target the Deployment")
        let triggers = array(lookup(scaled, "spec.triggers")).map(dictionary).filter { string($0["type"]) == "kafka" }
        XCTAssertEqual(triggers.count, 1, "ScaledObject: one trigger of type kafka")
        let metadata = dictionary(triggers.first?["metadata"]).compactMapValues(string)
        XCTAssertEqual(metadata["topic"], inputTopic, "KEDA trigger topic")
        XCTAssertEqual(metadata["consumerGroup"], data["DUOGUARD_GROUP"], "KEDA consumerGroup must be the workers' group")
        XCTAssertEqual(metadata["bootstrapServers"], data["DUOGUARD_BROKERS"], "KEDA bootstrapServers must be the workers' brokers")
        XCTAssertNotNil(metadata["lagThreshold"].flatMap { Int($0) }, "KEDA trigger: lagThreshold")
        let maxReplicas = try XCTUnwrap(int(lookup(scaled, "spec.maxReplicaCount")), "ScaledObject: maxReplicaCount")
        for (source, topics) in created {
            XCTAssertEqual(topics[inputTopic], maxReplicas, "ScaledObject maxReplicaCount (\(maxReplicas)) must equal the partitions of \(inputTopic) created by \(source)")
        }
        let docs = try readText("docs/deploy.md")
        XCTAssertTrue(docs.contains("\(maxReplicas) partitions"), "docs/deploy.md should state the \(maxReplicas) partitions of \(inputTopic)")
    }

    func testAlertRulesReferenceRealMetrics() throws {
        let tree = try DeployTree.load()
        let source = try readText("Sources/Worker/WorkerMetrics.swift")
        let metricRegex = try Regex(#"metric\("(duoguard_[a-z0-9_]+)""#)  // WorkerMetrics.metric("name", "help")
        let exported = Set(source.matches(of: metricRegex).compactMap { $0.output[1].substring.map(String.init) })
        XCTAssertTrue(exported.contains("duoguard_consumer_lag"), "could not read metric names from WorkerMetrics.swift: \(exported)")

        let rulesFile = dictionary(try XCTUnwrap(tree.yaml["deploy/prometheus/alerts.yml"]?.first))
        let groups = array(rulesFile["groups"])
        let rules = groups.flatMap { array(dictionary($0)["rules"]).map(dictionary) }
        XCTAssertFalse(rules.isEmpty, "deploy/prometheus/alerts.yml has no rules")
        let nameRegex = try Regex(#"duoguard_[a-z0-9_]+"#)
        var expressions: [String] = []
        for rule in rules {
            let alert = string(rule["alert"]) ?? string(rule["record"]) ?? "?"
            let expr = try XCTUnwrap(string(rule["expr"]), "rule \(alert) has no expr")
            expressions.append(expr)
            XCTAssertEqual(expr.filter { $0 == "(" }.count, expr.filter { $0 == ")" }.count, "\(alert): unbalanced parentheses")
            for match in expr.matches(of: nameRegex) {
                let name = String(expr[match.range])
                let base = ["_bucket", "_sum", "_count"].reduce(name) { $0.hasSuffix($1) && exported.contains(String($0.dropLast($1.count))) ? String($0.dropLast($1.count)) : $0 }
                XCTAssertTrue(exported.contains(base), "alert \(alert) uses \(name), which Sources/Worker/WorkerMetrics.swift does not export (\(exported.sorted()))")
            }
        }
        func covered(_ fragment: String) -> Bool { expressions.contains { $0.replacingOccurrences(of: " ", with: "").contains(fragment) } }
        XCTAssertTrue(covered("duoguard_consumer_lag"), "an alert on consumer lag is required")
        XCTAssertTrue(covered("rate(duoguard_dead_letters_total[5m])>0"), "an alert on dead letters is required")
        XCTAssertTrue(covered("==0") && covered("up{"), "an alert on a worker being down (up == 0) is required")
        let jobs = Set(array(dictionary(try XCTUnwrap(tree.yaml["deploy/prometheus/prometheus.yml"]?.first))["scrape_configs"]).compactMap { string(dictionary($0)["job_name"]) })
        for expr in expressions where expr.contains("up{") {
            XCTAssertTrue(jobs.contains { expr.contains("job=\"\($0)\"") }, "\(expr): the job label is none of the scrape jobs \(jobs)")
        }

        // Kubernetes carries the very same rules.
        let rule = try tree.one(kind: "PrometheusRule")
        XCTAssertTrue(
            NSArray(array: array(lookup(rule, "spec.groups"))).isEqual(to: groups),
            "deploy/kubernetes/prometheusrule.yaml spec.groups differ from deploy/prometheus/alerts.yml groups")
        // Compose's Prometheus loads the rules file it mounts.
        let prometheus = dictionary(try XCTUnwrap(tree.yaml["deploy/prometheus/prometheus.yml"]?.first))
        let mounted = array(tree.composeServices["prometheus"]?["volumes"]).compactMap(string)
        for file in array(prometheus["rule_files"]).compactMap(string) {
            XCTAssertTrue(mounted.contains { $0.hasPrefix("./prometheus/alerts.yml:") && $0.contains(":\(file)") }, "prometheus.yml loads \(file), which compose does not mount from ./prometheus/alerts.yml")
        }
    }

    func testDockerfileBuildsTheWorkerImage() throws {
        let dockerfile = try DeployTree.load().dockerfile
        let images = dockerfile.baseImages
        XCTAssertTrue(images.contains { $0.hasPrefix("swift:") && $0.contains("bookworm") }, "builder stage: a swift:*-bookworm image (\(images))")
        XCTAssertEqual(images.last, "debian:bookworm-slim", "runtime stage: debian:bookworm-slim")
        let runs = dockerfile.all("RUN").joined(separator: "\n")
        XCTAssertTrue(runs.contains("--product duoguard") && runs.contains("-c release"), "builds `swift build -c release --product duoguard`")
        XCTAssertTrue(runs.contains("librdkafka1") && runs.contains("ca-certificates"), "runtime installs librdkafka1 and ca-certificates")
        let user = try XCTUnwrap(dockerfile.all("USER").last, "deploy/Dockerfile: set a non-root USER")
        XCTAssertFalse(["root", "0", "0:0", "root:root"].contains(user), "deploy/Dockerfile: USER must not be root")
        XCTAssertNotNil(dockerfile.argumentDefaults["MODEL_GGUF"], "deploy/Dockerfile: ARG MODEL_GGUF bakes a model in")
        XCTAssertEqual(dockerfile.finalStageEnvironment["DUOGUARD_MODEL"], "/models/duoguard.gguf", "the image looks for the model at /models/duoguard.gguf")
    }
}
