// Shim header for librdkafka (Debian package librdkafka-dev).
// Only the Kafka module imports this; no librdkafka type appears in a public Swift API.
#ifndef DUOGUARD_CRDKAFKA_SHIM_H
#define DUOGUARD_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
// The in-process mock cluster (`test.mock.num.brokers`), for broker-less Kafka-layer tests.
#include <librdkafka/rdkafka_mock.h>

/// `rd_kafka_producev` is variadic, which Swift cannot call; this fixed-signature wrapper
/// enqueues one message with copied key/value, optional headers and a delivery opaque.
/// `partition` < 0 lets the partitioner choose. On success librdkafka owns `headers`;
/// on failure the caller still does.
static inline rd_kafka_resp_err_t duoguard_rd_kafka_produce(
    rd_kafka_t *rk, const char *topic, int32_t partition,
    const void *value, size_t value_len, const void *key, size_t key_len,
    rd_kafka_headers_t *headers, void *opaque) {
    if (headers != NULL) {
        return rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_HEADERS(headers),
            RD_KAFKA_V_OPAQUE(opaque),
            RD_KAFKA_V_END);
    }
    return rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic),
        RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_END);
}

#endif
