import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Worker

/// `duoguard replay`: re-score a range of a topic holding requests (after a model or
/// threshold change), writing results exactly as the worker would, then exit.
///
/// The range is resolved once at start: "to end" means the high watermarks then; times
/// become offsets through the broker. Progress is the consumer group's committed offsets,
/// so a replay stopped (SIGINT/SIGTERM) and restarted with the same `--group` continues
/// where it was without re-scoring what it already produced.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Re-score a range of a request topic and exit.",
        discussion: """
            Example: duoguard replay --brokers kafka:9092 --topic moderation-requests --from-time \
            2026-11-01T00:00:00Z --to-end --output-topic moderation-rescored --model new.gguf
            """
    )

    @Option(name: .long, help: "The topic holding ModerationRequests.")
    var topic: String
    @Option(name: .long, help: "Only these partitions (repeatable; default: all).")
    var partition: [Int32] = []
    @Flag(name: .long, help: "Start at the oldest message still in each partition.")
    var fromBeginning = false
    @Option(name: .long, help: "Start at this offset in every selected partition.")
    var fromOffset: Int64?
    @Option(name: .long, help: "Start at the first message at or after this time (ISO 8601).")
    var fromTime: String?
    @Flag(name: .long, help: "Stop at the high watermarks seen at start (default).")
    var toEnd = false
    @Option(name: .long, help: "Stop before the first message at or after this time (ISO 8601).")
    var toTime: String?
    @Option(name: .long, help: "Topic for the results.")
    var outputTopic: String
    @Option(name: .long, help: "Dead-letter topic (default: <output-topic>-dead-letters).")
    var dlqTopic: String?
    @Option(name: .long, help: "Consumer group holding the replay's progress (default: duoguard-replay-<topic>-<output-topic>).")
    var group: String?
    @Option(name: .long, help: "Give way to this live consumer group: pause while its lag is above --max-live-lag (it must exist and have committed offsets).")
    var yieldToGroup: String?
    @Option(name: .long, help: "With --yield-to-group: pause while the live group's lag (messages not committed, summed over --live-topic) is above this (default 1000).")
    var maxLiveLag: Int64?
    @Option(name: .long, help: "With --yield-to-group: resume once the lag is at or below this (default: half of --max-live-lag).")
    var resumeLiveLag: Int64?
    @Option(name: .long, help: "With --yield-to-group: the live group's input topic (repeatable; default: --topic).")
    var liveTopic: [String] = []
    @Option(name: .long, help: "With --yield-to-group: how often the live lag is read, ms (default 250).")
    var liveLagIntervalMs: Int?
    @Option(name: .long, help: "With --yield-to-group: a pause lasts at least this long, ms (default 1000: about the live group's commit interval; 0: off).")
    var minPauseMs: Int?
    @Option(name: .long, help: "With --yield-to-group: after a resume, space the replay's batches over this long, ms, from a quarter of it down to none (default 2000; 0: resume at full speed).")
    var resumeRampMs: Int?
    @Option(name: .long, help: "Run the replay's threads at this lower CPU priority, 0-19 (default 0: unchanged). Same host only: live workers on this host get the cores first; --yield-to-group reaches other hosts.")
    var cpuNice: Int = 0
    @OptionGroup var pipeline: PipelineOptions

    func validate() throws {
        let starts = [fromBeginning, fromOffset != nil, fromTime != nil].filter { $0 }.count
        guard starts == 1 else { throw ValidationError("give exactly one of --from-beginning, --from-offset, --from-time") }
        guard !(toEnd && toTime != nil) else { throw ValidationError("give at most one of --to-end, --to-time") }
        if let fromTime, Self.milliseconds(fromTime) == nil { throw ValidationError("--from-time '\(fromTime)' is not ISO 8601") }
        if let toTime, Self.milliseconds(toTime) == nil { throw ValidationError("--to-time '\(toTime)' is not ISO 8601") }
        if yieldToGroup == nil,
            maxLiveLag != nil || resumeLiveLag != nil || !liveTopic.isEmpty || liveLagIntervalMs != nil || minPauseMs != nil || resumeRampMs != nil
        {
            throw ValidationError(
                "--max-live-lag, --resume-live-lag, --live-topic, --live-lag-interval-ms, --min-pause-ms and --resume-ramp-ms need --yield-to-group")
        }
        if (minPauseMs ?? 0) < 0 || (resumeRampMs ?? 0) < 0 { throw ValidationError("--min-pause-ms and --resume-ramp-ms must be at least 0") }
        guard niceness != nil else { throw ValidationError("--cpu-nice \(cpuNice) is not in 0...19") }
    }

    /// `--cpu-nice` as a niceness, built in one place: nil out of 0...19 (`validate` refuses
    /// it); 0 is valid and leaves priorities alone (`run` applies nothing).
    private var niceness: CPUNiceness? { CPUNiceness(cpuNice) }

    func run() async throws {
        let signals = ShutdownSignals()
        let logger = try pipeline.makeLogger(label: "duoguard.replay")
        let niceness = cpuNice > 0 ? niceness : nil
        // Before the model and Kafka clients start their threads: those inherit it.
        if let niceness { try Self.lowerPriority(niceness, logger: logger) }
        let kafka = try pipeline.kafkaConfiguration(clientID: "duoguard-replay")
        // Before the model loads: a bad endpoint fails at once.
        let tracing = try pipeline.tracingExport(serviceName: "duoguard-replay", logger: logger)
        let groupID = group ?? "duoguard-replay-\(topic)-\(outputTopic)"
        let plan = try await resolvePlan(kafka: kafka, group: groupID, logger: logger)
        let (configuration, model) = try pipeline.makeConfiguration(
            kafka: kafka, group: groupID, inputTopics: [topic], outputTopic: outputTopic,
            deadLetterTopic: dlqTopic ?? "\(outputTopic)-dead-letters"
        ) { configuration in
            configuration.metricsPort = nil
            configuration.maxWait = .milliseconds(2)  // a backlog fills batches at once
            configuration.replay = plan
            configuration.liveYield = liveYield
        }
        logger.info("replay plan", metadata: ["ranges": "\(plan.ranges.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" })"])

        let worker = ModerationWorker(configuration: configuration, model: model, logger: logger)
        let progress = ReplayProgress(total: plan.total)
        // Every 200 ms while it runs: Dispatch makes worker threads later and gives each the
        // nice of its QoS, not the process's (seen: the overcommit thread running the model's
        // queue at -4 beside lowered threads), and its idle threads can exit and be made anew,
        // so a replay resuming after a pause may run on new threads at normal priority or above
        // until the next sweep: that is when live is catching up. A sweep reads /proc/self/task
        // and calls getpriority per thread (tens of microseconds for ~20 threads).
        let renice = Task {
            guard let niceness else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                guard !Task.isCancelled else { break }
                try? Self.lowerPriority(niceness, logger: logger)
            }
        }
        defer { renice.cancel() }
        let reporter = Task { await progress.report({ (worker.answeredCount, worker.deadLetteredCount) }, yielding: { worker.yieldGate?.status }) }
        let started = ContinuousClock.now
        try await WorkerRunner.run(worker, signals: signals, shutdownLimit: configuration.shutdownLimit, stopWhenDone: true, tracing: tracing, logger: logger)
        reporter.cancel()
        progress.finish()
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let answered = worker.answeredCount
        // Done only when the worker's ledger saw every record of the ranges answered.
        let complete = worker.replayCompleted
        print(
            "replay \(complete ? "done" : "stopped (resume with the same --group)"): "
                + "\(answered - worker.deadLetteredCount) scored, \(worker.deadLetteredCount) dead-lettered, "
                + "\(plan.total) in range, \(String(format: "%.1f", seconds)) s, "
                + "\(String(format: "%.1f", Double(answered) / max(seconds, 0.001))) requests/s")
        if let cache = worker.scoreCache?.statistics {
            let looked = Double(max(cache.hits + cache.misses, 1))
            // A coalesced request missed at intake and was answered without the model later.
            let ratio = { (count: Int) in String(format: "%.3f", Double(count) / looked) }
            print(
                "score cache: \(cache.hits) hits at intake, \(cache.coalesced) repeats coalesced in flight, "
                    + "\(cache.misses - cache.coalesced) scored by the model (hit ratio \(ratio(cache.hits + cache.coalesced)) "
                    + "without the model, \(ratio(cache.hits)) at intake), \(cache.evictions) evictions, \(cache.bytes) bytes held")
        }
        if let status = worker.yieldGate?.status {
            print("yielded to live group: \(status.pauses) pauses, \(String(format: "%.1f", status.pausedSeconds)) s paused")
        }
    }

    /// `--cpu-nice`: every thread of the process, now.
    private static func lowerPriority(_ niceness: CPUNiceness, logger: Logger) throws {
        do {
            let changed = try niceness.applyToProcess()
            if changed > 0 { logger.debug("lowered CPU priority", metadata: ["nice": "\(niceness.value)", "threads": "\(changed)"]) }
        } catch {
            throw ValidationError("--cpu-nice \(niceness.value): \(error)")
        }
    }

    /// What `--yield-to-group` and its options ask for.
    private var liveYield: LiveYield? {
        guard let yieldToGroup else { return nil }
        var settings = LiveYield(group: yieldToGroup, topics: liveTopic.isEmpty ? [topic] : liveTopic)
        if let maxLiveLag { settings.maxLag = maxLiveLag }
        settings.resumeLag = resumeLiveLag
        if let liveLagIntervalMs { settings.interval = .milliseconds(liveLagIntervalMs) }
        if let minPauseMs { settings.minimumPause = .milliseconds(minPauseMs) }
        if let resumeRampMs { settings.resumeRamp = .milliseconds(resumeRampMs) }
        return settings
    }

    /// Resolves the range to offsets, per partition, and applies the group's progress.
    private func resolvePlan(kafka: KafkaConfiguration, group: String, logger: Logger) async throws -> ReplayPlan {
        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(client: kafka, groupID: group), logger: logger)
        do {
            let plan = try await resolvePlan(consumer, group: group)
            await consumer.close()
            return plan
        } catch {
            await consumer.close()
            throw error
        }
    }

    private func resolvePlan(_ consumer: KafkaConsumer, group: String) async throws -> ReplayPlan {
        let topics = try await consumer.topics()
        guard let count = topics[topic] else { throw ValidationError("topic '\(topic)' does not exist") }
        let all = (0..<Int32(count)).map { $0 }
        let selected = partition.isEmpty ? all : partition
        if let bad = selected.first(where: { !all.contains($0) }) {
            throw ValidationError("topic '\(topic)' has no partition \(bad) (it has \(count))")
        }
        let committed = try await consumer.committed(selected.map { KafkaTopicPartition(topic: topic, partition: $0) })
        var ranges: [Int32: Range<Int64>] = [:]
        for p in selected {
            let marks = try await consumer.watermarks(topic: topic, partition: p)
            var start = marks.low
            if let fromOffset { start = max(marks.low, fromOffset) }
            if let fromTime, let ms = Self.milliseconds(fromTime) {
                start = try await offset(consumer, p, ms) ?? marks.high
            }
            var end = marks.high
            if let toTime, let ms = Self.milliseconds(toTime) {
                end = try await offset(consumer, p, ms) ?? marks.high
            }
            // Resume: the group's committed position, when inside the range, is where to go on.
            if let position = committed.first(where: { $0.partition == p })?.offset, position > start {
                start = min(position, max(end, start))
            }
            ranges[p] = start..<max(start, end)
        }
        return ReplayPlan(topic: topic, ranges: ranges)
    }

    private func offset(_ consumer: KafkaConsumer, _ partition: Int32, _ milliseconds: Int64) async throws -> Int64? {
        try await consumer.offsets(forTimes: [KafkaTopicPartition(topic: topic, partition: partition, offset: milliseconds)]).first?.offset
    }

    static func milliseconds(_ iso: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = formatter.date(from: iso) ?? ISO8601DateFormatter().date(from: iso)
        return date.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
    }
}
