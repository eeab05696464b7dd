import Foundation

/// Writes a Swift string as a JSON string literal, for tests that build JSON documents
/// (tokenizer.json files, fuzz seeds) by hand: quotes and backslashes escaped, control
/// characters and DEL as `\u00XX`, everything else as is.
public enum JSONStringLiteral {
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
