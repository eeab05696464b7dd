import Foundation

/// Settings shared by every Kafka client (consumer, producer, admin).
///
/// Typed fields cover what this project relies on; `properties` passes any other
/// librdkafka property through unchanged (SASL, TLS, tuning), so a deployment never needs
/// a code change to reach a secured cluster. `properties` wins over typed fields.
public struct KafkaConfiguration: Sendable, CustomStringConvertible {
    /// `bootstrap.servers`: where to find the cluster. Default: `["localhost:9092"]`.
    public var bootstrapServers: [String]
    /// `client.id`, shown in broker logs and quotas. Default: `"duoguard"`.
    public var clientID: String
    /// How long an initial metadata request may take before a broker is called unreachable
    /// (used by `KafkaAdmin` and connectivity checks). Default: 10 seconds.
    public var connectTimeout: Duration
    /// Any librdkafka property (`security.protocol`, `sasl.username`, `ssl.ca.location`, ...).
    /// Default: empty.
    public var properties: [String: String]

    public init(
        bootstrapServers: [String] = ["localhost:9092"],
        clientID: String = "duoguard",
        connectTimeout: Duration = .seconds(10),
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.connectTimeout = connectTimeout
        self.properties = properties
    }

    /// Adds the properties of a Java-style `client.properties` file (as `kcat -F` reads it);
    /// a `bootstrap.servers` there replaces `bootstrapServers`.
    public mutating func loadProperties(fromFile path: String) throws(KafkaError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .configuration("cannot read Kafka properties file '\(path)': \(error.localizedDescription)")
        }
        for (key, value) in Self.parseProperties(text) {
            if key == "bootstrap.servers" {
                bootstrapServers = value.split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
            } else {
                properties[key] = value
            }
        }
    }

    /// Parses Java `.properties` text: `key=value`, `key: value` or `key value` lines,
    /// `#`/`!` comments, backslash line continuations and escapes.
    public static func parseProperties(_ text: String) -> [(String, String)] {
        var logical: [String] = []
        var pending = ""
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            var line = Substring(rawLine)
            if pending.isEmpty {
                line = line.drop(while: { $0 == " " || $0 == "\t" })
                if line.isEmpty || line.first == "#" || line.first == "!" { continue }
            } else {
                line = line.drop(while: { $0 == " " || $0 == "\t" })
            }
            // An odd number of trailing backslashes continues the line.
            let trailing = line.reversed().prefix(while: { $0 == "\\" }).count
            if trailing % 2 == 1 {
                pending += line.dropLast()
                continue
            }
            logical.append(pending + line)
            pending = ""
        }
        if !pending.isEmpty { logical.append(pending) }

        var result: [(String, String)] = []
        for line in logical {
            var key = ""
            var index = line.startIndex
            var escaped = false
            while index < line.endIndex {
                let c = line[index]
                if escaped {
                    key.append(unescape(c))
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "=" || c == ":" || c == " " || c == "\t" {
                    break
                } else {
                    key.append(c)
                }
                index = line.index(after: index)
            }
            var rest = line[index...].drop(while: { $0 == " " || $0 == "\t" })
            if let first = rest.first, first == "=" || first == ":" {
                rest = rest.dropFirst().drop(while: { $0 == " " || $0 == "\t" })
            }
            var value = ""
            escaped = false
            for c in rest {
                if escaped {
                    value.append(unescape(c))
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else {
                    value.append(c)
                }
            }
            if !key.isEmpty { result.append((key, value)) }
        }
        return result
    }

    private static func unescape(_ c: Character) -> Character {
        switch c {
        case "t": return "\t"
        case "n": return "\n"
        case "r": return "\r"
        default: return c
        }
    }

    /// True for property names whose values are secrets and must never be logged.
    public static func isSecret(_ key: String) -> Bool {
        let lower = key.lowercased()
        return ["password", "secret", "jaas", "oauthbearer.config", "ssl.key.pem", "token", "credential"]
            .contains { lower.contains($0) }
    }

    /// The librdkafka properties this configuration sets (typed fields first, then `properties`).
    var librdkafkaProperties: [String: String] {
        var result = [
            "bootstrap.servers": bootstrapServers.joined(separator: ","),
            "client.id": clientID,
        ]
        for (key, value) in properties { result[key] = value }
        return result
    }

    /// The properties with secret values replaced, safe to log.
    public var description: String {
        Self.redacted(librdkafkaProperties)
    }

    static func redacted(_ properties: [String: String]) -> String {
        properties.keys.sorted().map { key in
            "\(key)=\(isSecret(key) ? "[redacted]" : properties[key] ?? "")"
        }.joined(separator: ", ")
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, as librdkafka's `*.ms` properties want them;
    /// saturates instead of trapping on durations beyond `Int64` milliseconds.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}
