import Foundation
import Kafka

/// Everything `ModerationWorker` needs besides the model. Defaults are what a production
/// deployment should start from; every field maps to a `duoguard worker` flag.
public struct WorkerConfiguration: Sendable {
    /// Brokers, client id and librdkafka passthrough (SASL/TLS) for consumer and producer.
    public var kafka: KafkaConfiguration
    /// Consumer group: workers sharing it split the input partitions.
    public var groupID: String
    /// Topics holding `ModerationRequest`s.
    public var inputTopics: [String]
    /// Where results go (unless a request names another in its `reply-to` header).
    public var outputTopic: String
    /// Where poison messages go, unchanged, with error headers.
    public var deadLetterTopic: String
    /// Default threshold on the maximum probability for the `unsafe` verdict. Default: 0.5.
    public var threshold: Float {
        didSet { categoryThresholds = CategoryThresholds(default: threshold) }
    }
    /// Per-category thresholds (default: `threshold` for all). A request's own `threshold`
    /// replaces them all for that request.
    public var categoryThresholds: CategoryThresholds
    /// How texts longer than `maxTokens` are scored. Default: `.truncate` (the model card).
    public var longText: LongTextMode
    /// Tokens shared by consecutive windows in `.windows` mode. Default: 64.
    public var windowOverlap: Int
    /// Tokens kept per text (the model card truncates at 512). Default: 512.
    public var maxTokens: Int
    /// Tokens per inference batch. Default: 2048.
    public var batchTokens: Int
    /// Requests per inference batch. Default: 64.
    public var maxBatch: Int
    /// How long a batch's first request waits for company. Default: 20 ms.
    public var maxWait: Duration
    /// Tokenized requests queued for batching; when full, intake stops and the consumer
    /// pauses its partitions. Default: 256.
    public var queueCapacity: Int
    /// Requests whose text is longer (UTF-8 bytes) are poison. Default: 64 KiB.
    public var maxTextBytes: Int
    /// Reported in every result (`worker_id`). Default: `hostname-pid`.
    public var workerID: String
    /// Log request texts (off by default: they are user content).
    public var logText: Bool
    /// Consumer `session.timeout.ms`. Default: 45 s.
    public var sessionTimeout: Duration
    /// Interval at which stored offsets are committed. Default: 5 s.
    public var commitInterval: Duration
    /// Where `/metrics`, `/healthz` and `/readyz` listen; `nil` port: no server.
    public var metricsHost: String
    public var metricsPort: Int?
    /// Interval of the consumer-lag gauge refresh. Default: 15 s.
    public var lagInterval: Duration
    /// How long shutdown (or a revoke) waits for in-flight results. Default: 30 s.
    public var drainTimeout: Duration
    /// Set for `duoguard replay`: answer only these offsets, then stop. Default: `nil`
    /// (a worker runs until it is stopped).
    public var replay: ReplayPlan?

    public init(
        kafka: KafkaConfiguration, groupID: String, inputTopics: [String], outputTopic: String,
        deadLetterTopic: String, threshold: Float = 0.5, maxTokens: Int = 512, batchTokens: Int = 2048,
        maxBatch: Int = 64, maxWait: Duration = .milliseconds(20), queueCapacity: Int = 256,
        maxTextBytes: Int = 65_536, workerID: String? = nil, logText: Bool = false,
        sessionTimeout: Duration = .seconds(45), commitInterval: Duration = .seconds(5),
        metricsHost: String = "0.0.0.0", metricsPort: Int? = 9_464, lagInterval: Duration = .seconds(15),
        drainTimeout: Duration = .seconds(30)
    ) {
        self.kafka = kafka
        self.groupID = groupID
        self.inputTopics = inputTopics
        self.outputTopic = outputTopic
        self.deadLetterTopic = deadLetterTopic
        self.threshold = threshold
        self.categoryThresholds = CategoryThresholds(default: threshold)
        self.longText = .truncate
        self.windowOverlap = 64
        self.maxTokens = maxTokens
        self.batchTokens = batchTokens
        self.maxBatch = maxBatch
        self.maxWait = maxWait
        self.queueCapacity = queueCapacity
        self.maxTextBytes = maxTextBytes
        self.workerID = workerID ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        self.logText = logText
        self.sessionTimeout = sessionTimeout
        self.commitInterval = commitInterval
        self.metricsHost = metricsHost
        self.metricsPort = metricsPort
        self.lagInterval = lagInterval
        self.drainTimeout = drainTimeout
        self.replay = nil
    }
}

/// How a text longer than the model's window is scored.
public enum LongTextMode: String, Sendable, CaseIterable {
    /// Keep the first `maxTokens` tokens (the model card's behaviour).
    case truncate
    /// Score overlapping windows of `maxTokens` tokens; each category's probability is the
    /// maximum over the windows, so unsafe content after token 512 is not missed.
    case windows
}
