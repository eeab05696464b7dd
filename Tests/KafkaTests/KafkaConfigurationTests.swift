import Kafka
import XCTest

/// Configuration handling that needs no broker.
final class KafkaConfigurationTests: XCTestCase {
    func testParsesJavaPropertiesAsKcatDoes() {
        let text = """
            # comment
            ! another comment
            bootstrap.servers = broker-1:9093,broker-2:9093
            security.protocol=SASL_SSL
            sasl.mechanisms: SCRAM-SHA-512
            sasl.username  alice
            sasl.password=p\\=ss\\
                word
            ssl.ca.location=/etc/ssl/ca.pem

            """
        let parsed = Dictionary(uniqueKeysWithValues: KafkaConfiguration.parseProperties(text))
        XCTAssertEqual(parsed["bootstrap.servers"], "broker-1:9093,broker-2:9093")
        XCTAssertEqual(parsed["security.protocol"], "SASL_SSL")
        XCTAssertEqual(parsed["sasl.mechanisms"], "SCRAM-SHA-512")
        XCTAssertEqual(parsed["sasl.username"], "alice")
        XCTAssertEqual(parsed["sasl.password"], "p=ssword")
        XCTAssertEqual(parsed["ssl.ca.location"], "/etc/ssl/ca.pem")
        XCTAssertEqual(parsed.count, 6)
    }

    func testLoadsPropertiesFileAndRedactsSecrets() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("client-\(UUID()).properties").path
        try "bootstrap.servers=a:1, b:2\nsasl.password=hunter2\nsasl.username=bob\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = KafkaConfiguration()
        try configuration.loadProperties(fromFile: path)
        XCTAssertEqual(configuration.bootstrapServers, ["a:1", "b:2"])
        XCTAssertEqual(configuration.properties["sasl.password"], "hunter2")
        XCTAssertFalse(configuration.description.contains("hunter2"), configuration.description)
        XCTAssertTrue(configuration.description.contains("sasl.password=[redacted]"))
        XCTAssertTrue(configuration.description.contains("sasl.username=bob"))
    }

    func testMissingPropertiesFileIsAConfigurationError() {
        var configuration = KafkaConfiguration()
        XCTAssertThrowsError(try configuration.loadProperties(fromFile: "/nonexistent/client.properties")) { error in
            let error = error as? KafkaError
            XCTAssertEqual(error?.kind, .configuration)
            XCTAssertTrue(error?.message.contains("/nonexistent/client.properties") ?? false)
        }
    }

    func testUnknownPropertyIsRejectedByNameWithoutLeakingSecrets() {
        var configuration = KafkaConfiguration()
        configuration.properties["no.such.property"] = "1"
        XCTAssertThrowsError(try KafkaProducer(configuration: KafkaProducerConfiguration(client: configuration))) { error in
            let error = error as? KafkaError
            XCTAssertEqual(error?.kind, .configuration)
            XCTAssertTrue(error?.message.contains("no.such.property") ?? false, "\(String(describing: error))")
        }
        var secret = KafkaConfiguration()
        secret.properties["sasl.password"] = "hunter2"
        secret.properties["security.protocol"] = "NOT-A-PROTOCOL"
        XCTAssertThrowsError(try KafkaProducer(configuration: KafkaProducerConfiguration(client: secret))) { error in
            XCTAssertFalse("\(error)".contains("hunter2"))
        }
    }
}
