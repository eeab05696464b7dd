import Foundation

/// Parses the `deadline` request header.
///
/// Two forms are accepted because producers come in two kinds: services that have a
/// timestamp type (RFC 3339: `2025-01-31T12:00:00Z`, `2025-01-31T12:00:00.250+01:00`) and
/// scripts or JVM clients that have `System.currentTimeMillis()` (epoch milliseconds, all
/// digits). The parser is hand-written rather than a `DateFormatter`/`ISO8601DateFormatter`
/// because those are locale- and platform-sensitive, need one configuration per fractional
/// variant, and accept things RFC 3339 does not; this one is exact, allocation-free and
/// `Sendable` by construction.
public enum DeadlineHeader {
    /// The deadline as a `Date`, or nil when the value is neither form (the worker then
    /// ignores the header rather than rejecting the request: a deadline is advice).
    ///
    /// RFC 3339 details: `T`, `t` or a space between date and time; optional fractional
    /// seconds of any length (nanosecond precision is kept, further digits ignored); `Z`,
    /// `z` or a `+hh:mm`/`-hh:mm` offset is required; calendar ranges are checked
    /// (February 30 is rejected); a leap second `:60` is read as the next second.
    /// Surrounding spaces are ignored.
    public static func parse(_ value: String) -> Date? {
        let bytes = Array(value.utf8.drop { $0 == space }.reversed().drop { $0 == space }.reversed())
        guard !bytes.isEmpty else { return nil }
        if bytes.allSatisfy(isDigit) {
            return parseEpochMilliseconds(bytes)
        }
        return parseRFC3339(bytes)
    }

    /// An RFC 3339 timestamp only, exactly as given (no epoch form, no surrounding spaces):
    /// what CloudEvents' `time` attribute allows.
    static func parseRFC3339(_ value: String) -> Date? {
        parseRFC3339(Array(value.utf8))
    }

    private static let space = UInt8(ascii: " ")

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Epoch milliseconds; more than 15 digits (year 33658) is taken as a mistake, not a date.
    private static func parseEpochMilliseconds(_ bytes: [UInt8]) -> Date? {
        guard bytes.count <= 15 else { return nil }
        var milliseconds: Int64 = 0
        for byte in bytes { milliseconds = milliseconds * 10 + Int64(byte - UInt8(ascii: "0")) }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// A cursor over the header bytes; every read checks bounds, so malformed input of any
    /// length yields nil, never a trap.
    private struct Cursor {
        let bytes: [UInt8]
        var position = 0

        mutating func number(digits: Int) -> Int? {
            guard position + digits <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[position..<(position + digits)] {
                guard DeadlineHeader.isDigit(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            position += digits
            return value
        }

        mutating func expect(_ allowed: String) -> UInt8? {
            guard position < bytes.count, allowed.utf8.contains(bytes[position]) else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        var atEnd: Bool { position == bytes.count }
    }

    private static func parseRFC3339(_ bytes: [UInt8]) -> Date? {
        var cursor = Cursor(bytes: bytes)
        guard let year = cursor.number(digits: 4), cursor.expect("-") != nil,
              let month = cursor.number(digits: 2), cursor.expect("-") != nil,
              let day = cursor.number(digits: 2), cursor.expect("Tt ") != nil,
              let hour = cursor.number(digits: 2), cursor.expect(":") != nil,
              let minute = cursor.number(digits: 2), cursor.expect(":") != nil,
              let second = cursor.number(digits: 2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }

        var fraction = 0.0
        if cursor.expect(".") != nil {
            var digits = 0
            var scale = 0.1
            while !cursor.atEnd, isDigit(cursor.bytes[cursor.position]) {
                if digits < 9 {
                    fraction += Double(cursor.bytes[cursor.position] - UInt8(ascii: "0")) * scale
                    scale /= 10
                }
                digits += 1
                cursor.position += 1
            }
            guard digits > 0 else { return nil }
        }

        var offsetSeconds = 0
        guard let zone = cursor.expect("Zz+-") else { return nil }
        if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
            guard let offsetHour = cursor.number(digits: 2), cursor.expect(":") != nil,
                  let offsetMinute = cursor.number(digits: 2),
                  (0...23).contains(offsetHour), (0...59).contains(offsetMinute)
            else { return nil }
            offsetSeconds = (offsetHour * 3600 + offsetMinute * 60) * (zone == UInt8(ascii: "-") ? -1 : 1)
        }
        guard cursor.atEnd else { return nil }

        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's
    /// `days_from_civil`), exact for every 4-digit year.
    private static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
