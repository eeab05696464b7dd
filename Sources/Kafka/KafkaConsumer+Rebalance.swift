import CRdKafka

extension KafkaConsumer {
    /// librdkafka's rebalance callback. Runs on the poll thread, inside `rd_kafka_consumer_poll`
    /// or `rd_kafka_consumer_close`, so the handle `rk` is alive throughout.
    ///
    /// Assign: start partitions at `initialOffsets` where given, assign (incrementally under
    /// the cooperative protocol), give each partition a new epoch, keep flow-control and
    /// application pauses, then tell the application.
    ///
    /// Revoke: first make the partitions' epochs non-current and drop their buffered
    /// messages (their next owner re-reads them), then tell the application and wait (up to
    /// `revokeTimeout`, and only if it listens to `events`) for its acknowledgement, then
    /// unassign.
    func rebalance(rk: OpaquePointer, code: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let items = RdKafkaTopicPartitionList.partitions(of: partitions).map(\.withoutOffset)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        switch code {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let starts = assignmentState.withLock { $0.initialOffsets }
            RdKafkaTopicPartitionList.setOffsets(starts, in: partitions)
            // Epochs first (nothing of these partitions is fetched before the assign); the
            // pauses after it, as librdkafka applies pauses to assigned partitions.
            let toPause = assignmentState.withLock { $0.assign(items) }
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, partitions) {
                    eventContinuation.yield(.error(KafkaError(consuming: error, context: "incremental assign")))
                }
            } else {
                let result = rd_kafka_assign(rk, partitions)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    eventContinuation.yield(.error(KafkaError(code: result, context: "assign")))
                }
            }
            let pauseFailure: KafkaError? = assignmentState.withLock { state in
                // Pause what is still to be paused now (flow control may have changed since).
                let still = toPause.filter { state.pausedPartitions.contains($0) }
                do throws(KafkaError) {
                    try Self.setPaused(rk, still, paused: true)
                    return nil
                } catch {
                    return error
                }
            }
            if let pauseFailure {
                logger.warning("pausing newly assigned partitions failed: \(pauseFailure)")
            }
            logger.info("partitions assigned", metadata: ["partitions": "\(items.map(\.description))"])
            eventContinuation.yield(.partitionsAssigned(items))

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            assignmentState.withLock { $0.beginRevoke(items) }
            let dropped = buffer.removeAll(of: Set(items))
            let lost = rd_kafka_assignment_lost(rk) != 0
            logger.info(
                "partitions \(lost ? "lost" : "revoked")",
                metadata: ["partitions": "\(items.map(\.description))", "droppedBuffered": "\(dropped)"])
            if lost {
                eventContinuation.yield(.partitionsLost(items))
            } else {
                let acknowledgement = RevokeAcknowledgement()
                eventContinuation.yield(.partitionsRevoked(items, acknowledgement))
                if events.listening.isListening,
                    !acknowledgement.wait(timeout: configuration.revokeTimeout)
                {
                    logger.warning("revoke not acknowledged within \(configuration.revokeTimeout); releasing partitions")
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, partitions) {
                    eventContinuation.yield(.error(KafkaError(consuming: error, context: "incremental unassign")))
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            assignmentState.withLock { $0.finishRevoke(items) }

        default:
            let error = KafkaError(code: code, context: "rebalance")
            logger.error("rebalance failed: \(error)")
            eventContinuation.yield(.error(error))
            assignmentState.withLock { $0.revokeAll() }
            _ = rd_kafka_assign(rk, nil)
        }
    }
}
