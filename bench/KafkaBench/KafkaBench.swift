import Foundation
import Kafka
import Logging
import Synchronization

/// Produce and consume throughput through the `Kafka` wrapper, for comparison with `kcat`
/// on the same broker (bench/kafka/run.sh runs both side by side).
///
/// Usage: kafka-bench produce BROKERS TOPIC COUNT SIZE   (prints seconds until all acked)
///        kafka-bench consume BROKERS TOPIC COUNT        (prints seconds from first to last)
/// Produce enqueues COUNT messages of SIZE bytes with delivery callbacks and waits for the
/// last report; consume reads COUNT messages with a fresh group, timed from the first one
/// (the group join is not throughput).
@main
struct KafkaBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 5, let count = Int(arguments[4]) else {
            FileHandle.standardError.write(Data("usage: kafka-bench produce|consume BROKERS TOPIC COUNT [SIZE]\n".utf8))
            exit(2)
        }
        let brokers = arguments[2]
        let topic = arguments[3]
        var logger = Logger(label: "kafka-bench")
        logger.logLevel = .warning
        let client = KafkaConfiguration(bootstrapServers: [brokers], clientID: "kafka-bench")
        if arguments[1] == "consume" {
            print(try await consume(client: client, topic: topic, count: count, logger: logger))
        } else {
            print(try await produce(client: client, topic: topic, count: count, size: Int(arguments[5]) ?? 200, logger: logger))
        }
    }

    static func produce(client: KafkaConfiguration, topic: String, count: Int, size: Int, logger: Logger) async throws -> Double {

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(client: client), logger: logger)
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        let produceStart = ContinuousClock.now
        // Enqueue everything with delivery callbacks (as the worker does) and wait for the last
        // report; a full local queue is waited out.
        let tally = Tally()
        let failures: Int = await withCheckedContinuation { continuation in
            Task {
                for i in 0..<count {
                    let message = KafkaProducerMessage(topic: topic, key: Array("\(i)".utf8), value: payload)
                    while true {
                        do {
                            try producer.produce(message) { result in
                                let finished: (Bool, Int) = tally.counts.withLock { counts in
                                    counts.done += 1
                                    if case .failure = result { counts.failed += 1 }
                                    return (counts.done == count, counts.failed)
                                }
                                if finished.0 { continuation.resume(returning: finished.1) }
                            }
                            break
                        } catch {
                            try? await Task.sleep(for: .milliseconds(1))
                        }
                    }
                }
            }
        }
        let produceSeconds = seconds(ContinuousClock.now - produceStart)
        await producer.close()
        guard failures == 0 else {
            FileHandle.standardError.write(Data("\(failures) deliveries failed\n".utf8))
            exit(1)
        }
        return produceSeconds
    }

    static func consume(client: KafkaConfiguration, topic: String, count: Int, logger: Logger) async throws -> Double {

        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: client, groupID: "kafka-bench-\(UUID().uuidString.prefix(8))",
                sessionTimeout: .seconds(6), heartbeatInterval: .milliseconds(500),
                autoCommitInterval: nil, maxBufferedMessages: 10_000),
            logger: logger)
        try consumer.subscribe(topics: [topic])
        var received = 0
        var consumeStart: ContinuousClock.Instant?
        for await _ in consumer.messages {
            // Start the clock at the first message: the group join is not throughput.
            if consumeStart == nil { consumeStart = ContinuousClock.now }
            received += 1
            if received == count { break }
        }
        let consumeSeconds = seconds(ContinuousClock.now - (consumeStart ?? ContinuousClock.now))
        await consumer.close()
        return consumeSeconds
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Delivery counts shared by the producer's callbacks.
final class Tally: Sendable {
    let counts = Mutex((done: 0, failed: 0))
}
