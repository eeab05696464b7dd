import Foundation

/// Exact reading of the numbers `JSONSerialization` returns (config.json, safetensors
/// headers, tokenizer.json for llama.cpp's keys).
///
/// `NSNumber.intValue` is not safe for hostile files: it truncates 1.5 to 1, turns 1e300 into
/// Int.min and `true` into 1, and `Int(_: Double)` traps on 1e300. These helpers accept only
/// what the JSON text spelled exactly.
enum JSONNumber {
    /// `true` and `false` come back as NSNumbers of their own class (`is Bool` does not tell
    /// them apart on Linux: there it holds for the numbers 0 and 1 too).
    private static let booleanClass = ObjectIdentifier(type(of: NSNumber(value: true)))

    private static func number(_ value: Any?) -> NSNumber? {
        guard let number = value as? NSNumber, ObjectIdentifier(type(of: number)) != booleanClass else { return nil }
        return number
    }

    /// The value as an `Int` when it is an integral JSON number that fits; nil for booleans,
    /// fractions, out-of-range numbers and every other type.
    static func int(_ value: Any?) -> Int? {
        guard let number = number(value) else { return nil }
        return number as? Int
    }

    /// The value as a `Double` when it is a JSON number (integral or not); nil for booleans.
    static func double(_ value: Any?) -> Double? {
        number(value)?.doubleValue
    }

    /// An array of exact integers, or nil when any element is not one.
    static func ints(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(array.count)
        for item in array {
            guard let v = int(item) else { return nil }
            out.append(v)
        }
        return out
    }
}
