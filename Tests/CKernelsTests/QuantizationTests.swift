import CKernels
import Foundation
import TestSupport
import XCTest

final class QuantizationTests: XCTestCase {
    func testQ8_0IsBitIdenticalToGGUFReference() throws {
        let x: [Float] = try decode(QuantReferenceFixture.floats)
        let expected: [UInt8] = try decode(QuantReferenceFixture.q8_0)
        XCTAssertEqual(quantize(x, CK_TYPE_Q8_0), expected)
    }

    func testQ4_0IsBitIdenticalToGGUFReference() throws {
        let x: [Float] = try decode(QuantReferenceFixture.floats)
        let expected: [UInt8] = try decode(QuantReferenceFixture.q4_0)
        XCTAssertEqual(quantize(x, CK_TYPE_Q4_0), expected)
    }

    func testQ8_0RoundTripError() {
        var rng = SplitMix64(seed: 1)
        for scale: Float in [1e-3, 1, 300] {
            let x = (0..<4096).map { _ in rng.normal() * scale }
            let y = dequantize(quantize(x, CK_TYPE_Q8_0), CK_TYPE_Q8_0, count: x.count)
            for b in 0..<(x.count / 32) {
                let blk = x[(b * 32)..<(b * 32 + 32)]
                let amax = blk.map(abs).max()!
                let bound = amax / 127 * 0.5 + amax * 0x1p-10 + 127 * 0x1p-25 // half a step + fp16 rounding of d (subnormal too)
                for j in 0..<32 { XCTAssertLessThanOrEqual(abs(x[b * 32 + j] - y[b * 32 + j]), bound) }
            }
        }
    }

    func testQ4_0RoundTripError() {
        var rng = SplitMix64(seed: 2)
        for scale: Float in [1e-3, 1, 300] {
            let x = (0..<4096).map { _ in rng.normal() * scale }
            let y = dequantize(quantize(x, CK_TYPE_Q4_0), CK_TYPE_Q4_0, count: x.count)
            for b in 0..<(x.count / 32) {
                let blk = x[(b * 32)..<(b * 32 + 32)]
                let amax = blk.map(abs).max()!
                // One step (amax/8) at worst: the -max side clamps 16 -> 15; else half a step.
                let bound = amax / 8 * 1.0 + amax * 0x1p-9 + 8 * 0x1p-25
                for j in 0..<32 { XCTAssertLessThanOrEqual(abs(x[b * 32 + j] - y[b * 32 + j]), bound) }
            }
        }
    }

    func testDequantizeFloatTypes() {
        let x: [Float] = [1, -2, 0.5, 3.25, -0.0, 65504, 1e-7, 7]
        let h = x.map { ck_fp32_to_fp16($0) }
        let b = x.map { UInt16($0.bitPattern >> 16) }
        var y = [Float](repeating: 0, count: x.count)
        h.withUnsafeBytes { ck_dequantize_row(CK_TYPE_F16, $0.baseAddress, &y, Int64(x.count)) }
        XCTAssertEqual(y, h.map { ck_fp16_to_fp32($0) })
        b.withUnsafeBytes { ck_dequantize_row(CK_TYPE_BF16, $0.baseAddress, &y, Int64(x.count)) }
        XCTAssertEqual(y, b.map { ck_bf16_to_fp32($0) })
        x.withUnsafeBytes { ck_dequantize_row(CK_TYPE_F32, $0.baseAddress, &y, Int64(x.count)) }
        XCTAssertEqual(y, x)
    }

    /// Hand-made blocks: the documented element order (low nibble j, high nibble j + 16).
    func testQ4_0NibbleOrder() {
        var block = [UInt8](repeating: 0, count: 18)
        let d = ck_fp32_to_fp16(0.5)
        block[0] = UInt8(d & 0xff); block[1] = UInt8(d >> 8)
        for j in 0..<16 { block[2 + j] = UInt8(j) | UInt8(15 - j) << 4 }
        let y = dequantize(block, CK_TYPE_Q4_0, count: 32)
        for j in 0..<16 {
            XCTAssertEqual(y[j], Float(j - 8) * 0.5)
            XCTAssertEqual(y[j + 16], Float(15 - j - 8) * 0.5)
        }
    }
}

func quantize(_ x: [Float], _ type: ck_type) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: ck_row_size(type, Int64(x.count)))
    out.withUnsafeMutableBytes { raw in
        if type == CK_TYPE_Q8_0 {
            ck_quantize_row_q8_0(x, raw.baseAddress!.assumingMemoryBound(to: ck_block_q8_0.self), Int64(x.count))
        } else if type == CK_TYPE_Q4_0 {
            ck_quantize_row_q4_0(x, raw.baseAddress!.assumingMemoryBound(to: ck_block_q4_0.self), Int64(x.count))
        } else if type == CK_TYPE_F16 {
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt16.self)
            for i in 0..<x.count { p[i] = ck_fp32_to_fp16(x[i]) }
        } else if type == CK_TYPE_BF16 {
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt16.self)
            for i in 0..<x.count { p[i] = UInt16(truncatingIfNeeded: x[i].bitPattern >> 16) } // truncation is fine for tests
        } else {
            precondition(type == CK_TYPE_F32)
            let p = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            for i in 0..<x.count { p[i] = x[i] }
        }
    }
    return out
}

func dequantize(_ bytes: [UInt8], _ type: ck_type, count: Int) -> [Float] {
    var y = [Float](repeating: 0, count: count)
    bytes.withUnsafeBytes { ck_dequantize_row(type, $0.baseAddress, &y, Int64(count)) }
    return y
}

/// Uniform and normal (Box-Muller) values for the kernel tests, from the shared generator.
extension SplitMix64 {
    mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    mutating func normal() -> Float {
        let u1 = max(uniform(), 1e-7), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
