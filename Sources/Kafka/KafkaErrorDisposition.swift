import CRdKafka

/// The table that says, for every librdkafka error code, whether a later attempt can succeed
/// (`.retriable`), no attempt can (`.permanent`), or the client is unusable (`.fatal`).
///
/// Why a table of our own: librdkafka answers this question only for `rd_kafka_error_t`
/// values (`rd_kafka_error_is_retriable`), not for the plain codes that delivery reports and
/// most calls return. The retriable set follows Kafka's own `RetriableException` subclasses
/// plus librdkafka's local transport/queue/timeout codes. Codes not listed are *permanent*:
/// for a worker, "give up on this message" (dead-letter it; the input record stays in its
/// topic) is the safe default, where "retry" could stall a partition for ever.
///
/// Two codes are permanent although Kafka calls them retriable, because of *when*
/// librdkafka reports them: `UNKNOWN_TOPIC_OR_PART` and `_UNKNOWN_TOPIC` reach a delivery
/// report only after librdkafka has waited `topic.metadata.propagation.max.ms` (30 s) for the
/// topic to appear, i.e. the topic does not exist and the broker will not create it.
enum KafkaErrorDisposition {
    /// The disposition of librdkafka error `code`.
    static func of(_ code: Int32) -> KafkaError.Disposition {
        if code == RD_KAFKA_RESP_ERR__FATAL.rawValue { return .fatal }
        return retriable.contains(code) ? .retriable : .permanent
    }

    /// Codes a later attempt can fix.
    static let retriable: Set<Int32> = Set([
        // Local: the link, the queue, the clock.
        RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__RESOLVE,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR__TIMED_OUT,
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
        RD_KAFKA_RESP_ERR__QUEUE_FULL,
        RD_KAFKA_RESP_ERR__ISR_INSUFF,
        RD_KAFKA_RESP_ERR__WAIT_COORD,
        RD_KAFKA_RESP_ERR__WAIT_CACHE,
        RD_KAFKA_RESP_ERR__NODE_UPDATE,
        RD_KAFKA_RESP_ERR__RETRY,
        RD_KAFKA_RESP_ERR__IN_PROGRESS,
        RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS,
        RD_KAFKA_RESP_ERR__INTR,
        RD_KAFKA_RESP_ERR__OUTDATED,
        RD_KAFKA_RESP_ERR__MAX_POLL_EXCEEDED,
        RD_KAFKA_RESP_ERR__UNKNOWN_BROKER,
        // Broker: Kafka's RetriableException family.
        RD_KAFKA_RESP_ERR_INVALID_MSG,  // CORRUPT_MESSAGE: a CRC mismatch in transit
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_NOT_CONTROLLER,
        RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS,
        RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
        RD_KAFKA_RESP_ERR_REASSIGNMENT_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND,
        RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH,
        RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND,
        RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH,
        RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH,
        RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT,
        RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED,
    ].map(\.rawValue))

    /// Codes deliberately permanent (the default for unlisted codes too); listed so that the
    /// table's intent is reviewable and unit tested, and a code cannot silently move.
    static let permanentOnPurpose: Set<Int32> = Set([
        RD_KAFKA_RESP_ERR__INVALID_ARG,  // e.g. an invalid topic name or partition
        RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
        RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION,
        RD_KAFKA_RESP_ERR__PURGE_QUEUE,  // the producer is closing
        RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
        RD_KAFKA_RESP_ERR__DESTROY,
        RD_KAFKA_RESP_ERR__BAD_MSG,
        RD_KAFKA_RESP_ERR__AUTHENTICATION,
        RD_KAFKA_RESP_ERR__SSL,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE,
        RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
        RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,  // INVALID_TOPIC_EXCEPTION
        RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE,
        RD_KAFKA_RESP_ERR_INVALID_RECORD,
        RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS,
        RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED,
        RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION,
        RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT,
        RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE,
        RD_KAFKA_RESP_ERR_POLICY_VIOLATION,
    ].map(\.rawValue))
}
