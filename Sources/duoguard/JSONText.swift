import Foundation

/// JSON text for the command-line tools' line-oriented output (one object per line), written
/// by hand so output keeps field order and needs no Encodable types.
enum JSONText {
    /// A JSON string literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A JSON number for a probability or logit (non-finite values become null).
    static func number(_ x: Float) -> String { x.isFinite ? "\(x)" : "null" }
}
