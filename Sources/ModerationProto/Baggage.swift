/// A validated W3C `baggage` value: application key/value pairs that travel with a trace
/// (tenant, experiment, ...), independent of `traceparent`.
///
/// W3C Baggage rules: a comma-separated list of `key=value` members, each optionally
/// followed by `;`-separated properties (`key` or `key=value`); keys are HTTP tokens;
/// values are printable ASCII without space, `"`, `,`, `;` and `\` (non-ASCII must be
/// percent-encoded); spaces and tabs are allowed around every separator. Limits: 8192 bytes
/// and 180 members (the spec's propagation limits, as OpenTelemetry applies them). An
/// invalid or over-limit value is dropped whole; the spec allows dropping members past the
/// limits, and a partial list would silently change what the application reads.
public struct Baggage: Sendable, Hashable {
    /// The `baggage` header name.
    public static let headerName = "baggage"
    /// Longest value accepted.
    public static let maxBytes = 8192
    /// Most members accepted.
    public static let maxMembers = 180

    /// Number of list members.
    public let memberCount: Int
    /// The value as received (surrounding spaces and tabs removed), which is what is copied on.
    public let headerValue: String

    /// Validates a `baggage` value; nil when invalid or over the limits.
    public init?(_ value: String) {
        guard value.utf8.count <= Self.maxBytes else { return nil }
        // Bytes, not Characters: this runs for every request that carries baggage.
        let bytes = Array(value.utf8)[...].trimmingOptionalWhitespace()
        var count = 0
        var start = bytes.startIndex
        while start <= bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.endIndex
            count += 1
            guard count <= Self.maxMembers else { return nil }
            // key=value, then properties (key or key=value) after each ';'.
            var part = start
            var first = true
            while part <= end {
                let partEnd = bytes[part..<end].firstIndex(of: UInt8(ascii: ";")) ?? end
                guard Self.isValidPair(bytes[part..<partEnd], valueRequired: first) else { return nil }
                first = false
                part = partEnd + 1
            }
            start = end + 1
        }
        self.memberCount = count
        self.headerValue = String(decoding: bytes, as: UTF8.self)
    }

    private static func isValidPair(_ text: ArraySlice<UInt8>, valueRequired: Bool) -> Bool {
        guard let equals = text.firstIndex(of: UInt8(ascii: "=")) else {
            return !valueRequired && isToken(text.trimmingOptionalWhitespace())
        }
        let key = text[..<equals].trimmingOptionalWhitespace(), value = text[(equals + 1)...].trimmingOptionalWhitespace()
        return isToken(key) && value.allSatisfy(isValueByte)
    }

    /// RFC 9110 token characters.
    private static func isToken(_ text: ArraySlice<UInt8>) -> Bool {
        !text.isEmpty && text.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"),
                 UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"),
                 UInt8(ascii: "|"), UInt8(ascii: "~"):
                true
            default:
                false
            }
        }
    }

    /// `baggage-octet`: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
    private static func isValueByte(_ byte: UInt8) -> Bool {
        byte >= 0x21 && byte <= 0x7E && byte != 0x22 && byte != 0x2C && byte != 0x3B && byte != 0x5C
    }
}
