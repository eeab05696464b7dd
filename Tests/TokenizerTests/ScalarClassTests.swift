import XCTest

@testable import Tokenizer

/// The letter / number / whitespace classes of every Unicode scalar agree with the reference
/// regex engine (Fixtures/scalar-classes.txt, probed from HF `tokenizers`), so that Unicode
/// version differences between Swift and Oniguruma would show up here, not in production.
final class ScalarClassTests: XCTestCase {
    func testEveryScalarHasTheReferenceClass() throws {
        let text = String(decoding: try TokenizerFiles.fixture("scalar-classes.txt"), as: UTF8.self)
        var checked = 0
        var mismatches: [String] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: " ")
            guard f.count == 3, let lo = UInt32(f[0], radix: 16), let hi = UInt32(f[1], radix: 16) else {
                XCTFail("bad line \(line)")
                continue
            }
            let want: ScalarClass
            switch f[2] {
            case "L": want = .letter
            case "N": want = .number
            case "S": want = .whitespace
            default: want = .other
            }
            for v in lo...hi {
                guard let s = Unicode.Scalar(v) else { continue }
                let got = ScalarClass.bmpTable.withUnsafeBufferPointer { ScalarClass.of(s.value, bmp: $0) }
                checked += 1
                if got != want, mismatches.count < 20 {
                    mismatches.append(String(format: "U+%04X want %@ got %@", v, "\(want)", "\(got)"))
                }
            }
        }
        XCTAssertGreaterThan(checked, 1_100_000)
        XCTAssertEqual(mismatches, [])
    }
}
