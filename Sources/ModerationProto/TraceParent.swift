/// A W3C Trace Context `traceparent` value: which trace a request belongs to and which
/// span (the producer's) is its parent.
///
/// Parsing follows the Trace Context Level 1 rules exactly, because an invalid value must
/// be dropped, not "repaired" into a trace id the producer never sent:
///
/// - `version-traceid-parentid-flags`, lowercase hex only: 2, 32, 16 and 2 digits.
/// - Version `ff` is invalid. Version `00` is exactly 55 characters.
/// - A higher version (a future spec) is read as version 00 is, from its first 55
///   characters, provided that it is at least that long and, when longer, character 56 is
///   `-`: the spec's forward-compatibility rule, so a newer producer is not cut off.
/// - An all-zero trace id or parent id is invalid.
///
/// Written here rather than taken from swift-w3c-trace-context: that package rejects every
/// version but 00, and its `tracestate` parser copies its buffer per character (quadratic
/// on a long hostile header); this is about 60 lines with no dependency.
public struct TraceParent: Sendable, Hashable {
    /// The `traceparent` header name (lowercase, as OpenTelemetry's Kafka propagation writes it).
    public static let headerName = "traceparent"

    /// Longest value looked at: 55 characters for version 00, generous room for a future one.
    static let maxLength = 512

    /// The version byte (0 for the current spec).
    public let version: UInt8
    /// 32 lowercase hex digits.
    public let traceID: String
    /// 16 lowercase hex digits: the producer's span.
    public let parentID: String
    /// Trace flags; bit 0 is "sampled".
    public let flags: UInt8
    /// The value as received (surrounding spaces and tabs removed), which is what is copied on:
    /// for a future version that keeps the fields this version does not know.
    public let headerValue: String

    /// Whether the producer recorded its span (flag bit 0).
    public var sampled: Bool { flags & 1 == 1 }

    /// Parses a `traceparent` value; nil when it is not valid.
    public init?(_ value: String) {
        let trimmed = Substring(value).trimmingASCIIWhitespace()
        let bytes = Array(trimmed.utf8.prefix(Self.maxLength + 1))
        guard bytes.count >= 55, bytes.count <= Self.maxLength,
              let version = Self.hexByte(bytes[0], bytes[1]), version != 0xFF,
              version != 0 || bytes.count == 55,
              bytes.count == 55 || bytes[55] == UInt8(ascii: "-"),
              bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
              Self.isLowercaseHex(bytes[3..<35]), Self.isLowercaseHex(bytes[36..<52]),
              bytes[3..<35].contains(where: { $0 != UInt8(ascii: "0") }),
              bytes[36..<52].contains(where: { $0 != UInt8(ascii: "0") }),
              let flags = Self.hexByte(bytes[53], bytes[54])
        else { return nil }
        self.version = version
        self.traceID = String(decoding: bytes[3..<35], as: UTF8.self)
        self.parentID = String(decoding: bytes[36..<52], as: UTF8.self)
        self.flags = flags
        self.headerValue = String(trimmed)
    }

    private static func isLowercaseHex(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { hexDigit($0) != nil }
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    private static func hexByte(_ high: UInt8, _ low: UInt8) -> UInt8? {
        guard let high = hexDigit(high), let low = hexDigit(low) else { return nil }
        return high << 4 | low
    }
}
