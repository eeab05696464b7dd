import CKernels
import Foundation
import XCTest

final class ConversionTests: XCTestCase {
    /// Every half value converts to f32 and back to the same bits (NaNs stay NaN, quieted).
    func testFp16RoundTripIsExhaustivelyExact() {
        for bits in 0...0xffff {
            let h = UInt16(bits)
            let f = ck_fp16_to_fp32(h)
            let exp = (h >> 10) & 0x1f, man = h & 0x3ff
            if exp == 0x1f && man != 0 {
                XCTAssertTrue(f.isNaN, "half \(bits) should be NaN")
                let back = ck_fp32_to_fp16(f)
                XCTAssertEqual(back & 0x7e00, 0x7e00, "NaN \(bits) must stay a (quiet) NaN")
                XCTAssertEqual(back & 0x8000, h & 0x8000)
                continue
            }
            XCTAssertEqual(ck_fp32_to_fp16(f), h, "round trip of half \(bits)")
            #if !(os(macOS) && arch(x86_64))
            XCTAssertEqual(f.bitPattern, Float(Float16(bitPattern: h)).bitPattern, "widening of half \(bits)")
            #endif
        }
    }

    /// Bit patterns produced by numpy:
    /// np.array([0.1, 1/3, 65519.0, 65520.0, 5.96e-8, 2.9802322e-08, 2.9802326e-08,
    ///           1.0009765625 + 2**-11, 1.0 + 2**-11, -0.0, 1e-5],
    ///          dtype=np.float32).astype(np.float16).view(np.uint16)
    func testFp16RoundingMatchesNumpy() {
        let inputs: [Float] = [0.1, 1.0 / 3.0, 65519.0, 65520.0, 5.96e-8, 2.9802322e-08, 2.9802326e-08,
                               1.0009765625 + 0x1p-11, 1.0 + 0x1p-11, -0.0, 1e-5]
        let expected: [UInt16] = [0x2e66, 0x3555, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0001,
                                  0x3c02, 0x3c00, 0x8000, 0x00a8]
        for (x, e) in zip(inputs, expected) {
            XCTAssertEqual(ck_fp32_to_fp16(x), e, "fp16(\(x))")
        }
        XCTAssertEqual(ck_fp32_to_fp16(.infinity), 0x7c00)
        XCTAssertEqual(ck_fp32_to_fp16(-.infinity), 0xfc00)
        XCTAssertEqual(ck_fp32_to_fp16(1e10), 0x7c00)
        XCTAssertEqual(ck_fp32_to_fp16(-1e-10), 0x8000)
        XCTAssertEqual(ck_fp32_to_fp16(.nan) & 0x7e00, 0x7e00)
    }

    /// 2048 f32 values (random over the half range, exact halfway cases, subnormal results)
    /// against numpy's astype(np.float16), from scripts/kernel-fixtures.py.
    func testFp16RoundingMatchesNumpyFixture() throws {
        let inputs: [Float] = try decode(QuantReferenceFixture.fp16Inputs)
        let expected: [UInt16] = try decode(QuantReferenceFixture.fp16Expected)
        XCTAssertEqual(inputs.count, expected.count)
        var mismatches = 0
        for (x, e) in zip(inputs, expected) where ck_fp32_to_fp16(x) != e {
            mismatches += 1
            if mismatches < 5 { XCTFail("fp16(\(x) = \(String(x.bitPattern, radix: 16))) = \(ck_fp32_to_fp16(x)), numpy \(e)") }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testBf16() {
        XCTAssertEqual(ck_bf16_to_fp32(0x3f80), 1.0)
        XCTAssertEqual(ck_bf16_to_fp32(0xc040), -3.0)
        XCTAssertEqual(ck_bf16_to_fp32(0x7f80), .infinity)
        XCTAssertTrue(ck_bf16_to_fp32(0x7fc0).isNaN)
        XCTAssertEqual(ck_bf16_to_fp32(0x0001).bitPattern, 0x0001_0000)
        for bits in stride(from: 0, through: 0xffff, by: 7) {
            let f = ck_bf16_to_fp32(UInt16(bits))
            XCTAssertEqual(f.bitPattern, UInt32(bits) << 16)
        }
    }

    func testRowSizes() {
        XCTAssertEqual(ck_row_size(CK_TYPE_F32, 64), 256)
        XCTAssertEqual(ck_row_size(CK_TYPE_F16, 64), 128)
        XCTAssertEqual(ck_row_size(CK_TYPE_BF16, 64), 128)
        XCTAssertEqual(ck_row_size(CK_TYPE_Q8_0, 64), 68)
        XCTAssertEqual(ck_row_size(CK_TYPE_Q4_0, 64), 36)
        XCTAssertEqual(ck_row_size(ck_type(rawValue: 99), 64), 0)
    }
}

/// Decodes a base64 fixture string into little-endian values of T.
func decode<T>(_ base64: String) throws -> [T] {
    let data = try XCTUnwrap(Data(base64Encoded: base64))
    precondition(data.count % MemoryLayout<T>.stride == 0)
    return data.withUnsafeBytes { raw in
        (0..<(data.count / MemoryLayout<T>.stride)).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self) }
    }
}
