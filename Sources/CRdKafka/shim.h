// Shim header for librdkafka (Debian package librdkafka-dev).
// Only the Kafka module imports this; no librdkafka type appears in a public Swift API.
#ifndef DUOGUARD_CRDKAFKA_SHIM_H
#define DUOGUARD_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>

#endif
