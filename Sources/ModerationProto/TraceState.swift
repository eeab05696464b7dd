/// A validated W3C Trace Context `tracestate` value: vendors' own trace data, carried next
/// to `traceparent` and meaningless without it.
///
/// Level 1 rules, checked in one pass over at most `maxBytes` bytes:
///
/// - A comma-separated list; spaces and tabs around members are allowed, and so are empty
///   members, which are dropped. At most 32 members; duplicate keys are invalid.
/// - A key is `lcalpha 0*255(lcalpha / digit / _ - * /)`, or a multi-tenant
///   `tenant@system` with a tenant of 1-241 characters starting with a letter or digit and a
///   system of 1-14 starting with a letter.
/// - A value is 1-256 printable ASCII characters other than `,` and `=`, not ending in a space.
///
/// Several `tracestate` headers are one list, joined in order with commas (as HTTP combines
/// repeated fields). Anything invalid drops the whole value: half a vendor's state is worse
/// than none.
public struct TraceState: Sendable, Hashable {
    /// The `tracestate` header name.
    public static let headerName = "tracestate"
    /// Members allowed by the spec.
    public static let maxMembers = 32
    /// Longest combined value looked at. The spec asks vendors to propagate at least 512
    /// characters; 32 members of the longest key and value would be about 16 KiB.
    public static let maxBytes = 8192

    /// The members as `key=value`, in order, without empty members or surrounding spaces.
    public let members: [String]

    /// What is copied on: the members joined with commas.
    public var headerValue: String { members.joined(separator: ",") }

    /// Validates the values of one or more `tracestate` headers; nil when invalid or too long.
    public init?(_ values: [String]) {
        var total = max(values.count - 1, 0)
        for value in values {
            total += value.utf8.count
            guard total <= Self.maxBytes else { return nil }
        }
        var members: [String] = []
        var keys: [ArraySlice<UInt8>] = []
        for value in values {
            // Bytes, not Characters: this runs for every traced request.
            let bytes = Array(value.utf8)
            var start = 0
            while start <= bytes.count {
                let end = bytes[start...].firstIndex(of: UInt8(ascii: ",")) ?? bytes.count
                let member = bytes[start..<end].trimmingOptionalWhitespace()
                start = end + 1
                if member.isEmpty { continue }
                guard members.count < Self.maxMembers,
                      let equals = member.firstIndex(of: UInt8(ascii: "=")),
                      Self.isValidKey(member[..<equals]),
                      Self.isValidValue(member[(equals + 1)...]),
                      !keys.contains(member[..<equals])
                else { return nil }
                keys.append(member[..<equals])
                members.append(String(decoding: member, as: UTF8.self))
            }
        }
        self.members = members
    }

    private static func isKeyCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"): true
        default: false
        }
    }

    private static func isLowercaseLetter(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")
    }

    /// `simple-key` (a letter, then up to 255 key characters) or `tenant@system`.
    private static func isValidKey(_ key: ArraySlice<UInt8>) -> Bool {
        guard let first = key.first else { return false }
        guard let at = key.firstIndex(of: UInt8(ascii: "@")) else {
            return isLowercaseLetter(first) && key.count <= 256 && key.allSatisfy(isKeyCharacter)
        }
        let tenant = key[..<at], system = key[(at + 1)...]
        guard let systemFirst = system.first, tenant.count <= 241, system.count <= 14,
              isLowercaseLetter(first) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first),
              isLowercaseLetter(systemFirst)
        else { return false }
        return tenant.allSatisfy(isKeyCharacter) && system.allSatisfy(isKeyCharacter)
    }

    /// 1-256 printable ASCII characters other than `,` and `=`, the last not a space.
    private static func isValidValue(_ value: ArraySlice<UInt8>) -> Bool {
        guard !value.isEmpty, value.count <= 256, value.last != UInt8(ascii: " ") else { return false }
        return value.allSatisfy { byte in
            byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: ",") && byte != UInt8(ascii: "=")
        }
    }
}
