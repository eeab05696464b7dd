/// The GPT-2 "byte-level" alphabet: a bijection between the 256 byte values and 256 printable
/// Unicode scalars, used by tokenizer.json to spell raw bytes as vocabulary strings
/// (a space is "Ġ" = U+0120, a newline "Ċ" = U+010A).
///
/// The tokenizer works on raw bytes internally, so the alphabet is only used at load time (to
/// turn vocab and merge strings into bytes) and by `tokenID(_:)`.
enum ByteLevelAlphabet {
    /// Scalar value for each byte.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte a scalar of the alphabet stands for, or -1. Arithmetic rather than a table
    /// lookup: it runs for every character of the 400 k vocab and merge strings at load.
    @inline(__always)
    static func byte(forScalar v: Int) -> Int {
        switch v {
        case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF: return v
        case 0x100..<0x121: return v - 0x100               // bytes 0x00...0x20
        case 0x121..<0x143: return v - 0x121 + 0x7F        // bytes 0x7F...0xA0
        case 0x143: return 0xAD
        default: return -1
        }
    }

    /// Converts the UTF-8 spelling of a byte-level token into the raw bytes it stands for.
    /// Returns false (leaving `out` partially filled) if a scalar is outside the alphabet.
    @inline(__always)
    static func rawBytes(ofUTF8 utf8: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        var i = 0
        while i < utf8.count {
            // Only 1- and 2-byte sequences can be in the alphabet (all scalars < U+0800).
            let b0 = utf8[i]
            let v: Int
            if b0 < 0x80 {
                v = Int(b0)
                i += 1
            } else if b0 >= 0xC2, b0 < 0xE0, i + 1 < utf8.count {
                v = Int(b0 & 0x1F) << 6 | Int(utf8[i + 1] & 0x3F)
                i += 2
            } else {
                return false
            }
            let b = byte(forScalar: v)
            guard b >= 0 else { return false }
            out.append(UInt8(truncatingIfNeeded: b))
        }
        return true
    }
}
