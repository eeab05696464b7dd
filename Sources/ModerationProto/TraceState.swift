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
        var keys = Set<Substring>()
        for value in values {
            for rawMember in value.split(separator: ",", omittingEmptySubsequences: false) {
                let member = rawMember.trimmingASCIIWhitespace()
                if member.isEmpty { continue }
                guard members.count < Self.maxMembers,
                      let equals = member.utf8.firstIndex(of: UInt8(ascii: "=")),
                      let key = Self.validKey(member[member.startIndex..<equals]),
                      Self.isValidValue(member.utf8[member.utf8.index(after: equals)...]),
                      keys.insert(key).inserted
                else { return nil }
                members.append(String(member))
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

    private static func validKey(_ key: Substring) -> Substring? {
        let bytes = Array(key.utf8)
        guard let first = bytes.first, bytes.allSatisfy({ isKeyCharacter($0) || $0 == UInt8(ascii: "@") }) else { return nil }
        let ats = bytes.indices.filter { bytes[$0] == UInt8(ascii: "@") }
        switch ats.count {
        case 0:
            guard isLowercaseLetter(first), bytes.count <= 256 else { return nil }
        case 1:
            let tenant = bytes[..<ats[0]], system = bytes[(ats[0] + 1)...]
            guard let tenantFirst = tenant.first, let systemFirst = system.first,
                  tenant.count <= 241, system.count <= 14,
                  isLowercaseLetter(tenantFirst) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(tenantFirst),
                  isLowercaseLetter(systemFirst)
            else { return nil }
        default:
            return nil
        }
        return key
    }

    private static func isValidValue(_ value: Substring.UTF8View.SubSequence) -> Bool {
        guard !value.isEmpty, value.count <= 256, value.last != UInt8(ascii: " ") else { return false }
        return value.allSatisfy { byte in
            byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: ",") && byte != UInt8(ascii: "=")
        }
    }
}
