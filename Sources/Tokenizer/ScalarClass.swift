/// The character classes the Llama-3 split pattern distinguishes: `\p{L}`, `\p{N}`, `\s`
/// and everything else.
///
/// `\s` is the Unicode `White_Space` property (as in the reference's Oniguruma regex, which
/// counts U+0085 and U+00A0 but not U+200B or U+180E); `\p{L}` and `\p{N}` are the general
/// categories L* and N*.
enum ScalarClass: UInt8, Sendable {
    case other = 0
    case letter = 1
    case number = 2
    case whitespace = 3

    /// Classes of the Basic Multilingual Plane, computed once (64 KiB): almost all text lives
    /// there, and a table read is far cheaper than the standard library's property lookups.
    private static let bmp: [ScalarClass] = {
        var table = [ScalarClass](repeating: .other, count: 0x10000)
        for v in 0..<0x10000 {
            if let s = Unicode.Scalar(UInt32(v)) { table[v] = compute(s) }
        }
        return table
    }()

    /// The newest Unicode version the reference's regex engine knows (Oniguruma in HF
    /// `tokenizers` 0.23: 16.0). Scalars assigned later are unassigned there, hence "other";
    /// the standard library may know a newer version (Swift 6.3: 17.0), so they are cut off here.
    static let referenceUnicodeVersion = (major: 16, minor: 0)

    static func compute(_ s: Unicode.Scalar) -> ScalarClass {
        let p = s.properties
        if let age = p.age,
           age.major > referenceUnicodeVersion.major
            || (age.major == referenceUnicodeVersion.major && age.minor > referenceUnicodeVersion.minor)
        {
            return .other
        }
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// The table, for hot loops that hold on to it.
    static var bmpTable: [ScalarClass] { bmp }

    @inline(__always)
    static func of(_ v: UInt32, bmp table: UnsafeBufferPointer<ScalarClass>) -> ScalarClass {
        if v < 0x10000 { return table[Int(v)] }
        guard let s = Unicode.Scalar(v) else { return .other }
        return compute(s)
    }
}
