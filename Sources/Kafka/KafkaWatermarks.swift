/// Low and high watermark of a partition: `high - committed` is the consumer lag.
public struct KafkaWatermarks: Sendable, Hashable {
    /// Oldest offset still in the log.
    public var low: Int64
    /// Offset the next produced message will get.
    public var high: Int64

    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }
}
