import KafkaHeaders
import Foundation

/// The CloudEvent attributes of results written in binary mode (`--cloudevents-output`).
///
/// Each result becomes an event with these headers:
///
///     ce_specversion  1.0
///     ce_id           <request topic>/<partition>/<offset>
///     ce_source       `source` (the worker fleet, e.g. /duoguard/moderation)
///     ce_type         `type` (ai.duoguard.moderation.result.v1)
///     ce_subject      the request id
///     ce_time         when the result was made, RFC 3339 UTC with milliseconds
///     content-type    the result's encoding (data content type, as the binding says)
///
/// The event id is the request's Kafka position, not a random id: CloudEvents consumers
/// treat equal `source` + `id` as the same event, and a result produced twice for one
/// record (at-least-once delivery) *is* the same event, so their dedupe does the right thing.
/// For that reason `source` should name the fleet (one value for all workers of a group),
/// not the process.
public struct CloudEventOutput: Sendable, Hashable {
    /// The event type of results. Versioned with the protocol (`v1`), so consumers can route
    /// on it and a future incompatible result gets a new type.
    public static let resultType = "ai.duoguard.moderation.result.v1"

    /// `ce_source`: a URI reference naming the producer of the results. Default:
    /// `/duoguard/moderation`.
    public var source: String
    /// `ce_type`. Default: `resultType`.
    public var type: String

    public init(source: String = "/duoguard/moderation", type: String = CloudEventOutput.resultType) {
        self.source = source
        self.type = type
    }

    /// Whether `source` may go into every result's `ce_source` header: a URI reference of
    /// 1...1024 visible ASCII characters (no spaces or controls a header reader could trip on).
    public static func isValidSource(_ source: String) -> Bool {
        !source.isEmpty && source.utf8.count <= 1_024 && source.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// The binary-mode headers of one result (`content-type` included).
    public func headers(id: String, subject: String, contentType: ContentType, time: Date) -> [KafkaHeader] {
        [
            KafkaHeader(key: "ce_specversion", string: CloudEvent.specVersion),
            KafkaHeader(key: "ce_id", string: id),
            KafkaHeader(key: "ce_source", string: source),
            KafkaHeader(key: "ce_type", string: type),
            KafkaHeader(key: "ce_subject", string: subject),
            KafkaHeader(key: "ce_time", string: Self.rfc3339(time)),
            KafkaHeader(key: ModerationHeader.contentType, string: contentType.headerValue),
        ]
    }

    /// `2025-01-31T12:00:00.250Z`: UTC, milliseconds. Hand-written for the same reasons as
    /// `DeadlineHeader.parse` (exact, locale-free, Sendable).
    static func rfc3339(_ date: Date) -> String {
        // Clamped to ±285,000 years so that no Date can trap the conversion.
        let exact = (date.timeIntervalSince1970 * 1000).rounded()
        let totalMilliseconds = exact.isFinite ? Int64(min(max(exact, -9e15), 9e15)) : 0
        let milliseconds = Int(((totalMilliseconds % 1000) + 1000) % 1000)
        let seconds = (totalMilliseconds - Int64(milliseconds)) / 1000
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (year, month, day) = civil(daysSinceEpoch: days)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(milliseconds, 3))Z"
    }

    /// The proleptic Gregorian date of a day count from 1970-01-01 (H. Hinnant's
    /// `civil_from_days`, the inverse of the one `DeadlineHeader` uses).
    static func civil(daysSinceEpoch: Int) -> (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
