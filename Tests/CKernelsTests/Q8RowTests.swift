import CKernels
import Foundation
import TestSupport
import XCTest

/// CK_TYPE_Q8_R (per-row int8 weights, activations with one scale per 128, token-tiled):
/// every SIMD level this CPU has against the scalar reference at odd sizes, the reference
/// against the float product, and the packing from every stored type.
final class Q8RowTests: XCTestCase {
    override func tearDown() {
        _ = ck_set_kernels(nil)
        super.tearDown()
    }

    /// The SIMD levels this CPU has (MatmulTests' list).
    static var levels: [String] { MatmulTests.simd }

    func testSizes() {
        // 16 f32 row scales + the Q8_0-sized quants per panel.
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q8_R, 16, 128), 64 + 4 * 512)
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q8_R, 17, 256), 2 * (64 + 8 * 512))
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q8_R, 16, 96), 0, "rows must be whole groups of 128")
        XCTAssertEqual(ck_activations_size(CK_TYPE_Q8_R, 96, 1), 0)
        // Tiles of 12 tokens: 1 and 12 tokens take one tile, 13 two.
        let tile = ck_activations_size(CK_TYPE_Q8_R, 256, 1)
        XCTAssertEqual(tile, 2 * (12 * 8 + 128 * 12))
        XCTAssertEqual(ck_activations_size(CK_TYPE_Q8_R, 256, 12), tile)
        XCTAssertEqual(ck_activations_size(CK_TYPE_Q8_R, 256, 13), 2 * tile)
        XCTAssertEqual(ck_activations_size(CK_TYPE_Q8_R, 128, Int64.max / 4), 0, "overflow")
    }

    /// Every level writes the same bytes, also when the tokens are prepared in two ranges
    /// that split a tile (as MatMul does on two threads).
    func testPreparedActivationsAreIdentical() {
        var rng = SplitMix64(seed: 31)
        for (k, n) in [(128, 1), (384, 13), (1152, 30)] {
            let x = (0 ..< (n * k)).map { _ in rng.normal() * 2 }
            XCTAssertEqual(ck_set_kernels("scalar"), 1)
            let reference = prepare(x, k: k, n: n, split: 0)
            for level in Self.levels {
                XCTAssertEqual(ck_set_kernels(level), 1)
                XCTAssertEqual(prepare(x, k: k, n: n, split: n / 2), reference, "\(level) k=\(k) n=\(n)")
                XCTAssertEqual(prepare(x, k: k, n: n, split: 0), reference, "\(level) k=\(k) n=\(n)")
            }
        }
    }

    /// The quantizer's edge cases, identical at every level (the AVX-512 one rounds with a
    /// masked add, the AVX2 one with a compare-and-or, the reference with roundf): an all-zero
    /// group (d = 0), values that scale to exact halves (amax 127 gives d = 1: half away from
    /// zero, both signs), a group whose amax is a single outlier, and denormals.
    func testPreparedActivationsEdgeValues() {
        let k = 512, n = 14
        var x = [Float](repeating: 0, count: n * k)
        for t in 0 ..< n {
            let row = t * k
            // group 0 stays zero; group 1: exact halves and the amax 127
            for j in 0 ..< 128 { x[row + 128 + j] = (Float(j % 64) - 31.5) * (j % 2 == 0 ? 1 : -1) }
            x[row + 128 + 5] = 127
            // group 2: one outlier, the rest tiny
            for j in 0 ..< 128 { x[row + 256 + j] = Float(j) * 1e-3 - 0.05 }
            x[row + 256 + 77] = -3e4 * Float(t + 1)
            // group 3: denormals and negative zeros
            for j in 0 ..< 128 { x[row + 384 + j] = j % 3 == 0 ? -0.0 : Float.leastNonzeroMagnitude * Float(j) }
        }
        XCTAssertEqual(ck_set_kernels("scalar"), 1)
        let reference = prepare(x, k: k, n: n, split: 0)
        XCTAssertFalse(reference.allSatisfy { $0 == 0 }, "the reference wrote nothing")
        for level in Self.levels {
            XCTAssertEqual(ck_set_kernels(level), 1)
            XCTAssertEqual(prepare(x, k: k, n: n, split: 5), reference, level)
        }
    }

    /// SIMD kernels against the scalar reference (float summation order is all that differs),
    /// at odd rows, partial token tiles, several chunks of k, and row ranges that start inside
    /// a panel; rows outside the range stay untouched. (20, 1152, 337): more tokens than one
    /// token block (ck_matmul.c's CK_NT), where Q8_R takes chunks of 64 blocks of k
    /// (CK_KC_Q8R) and smaller panel groups: one chunk at k = 1,152, two (64 + 8 blocks) at
    /// (20, 2304, 337), the path where the driver's prefetch moves from the range's last panel
    /// to the first panel's next chunk; (45, 2176, 13): one token block, chunks of 32 + 32 + 4.
    func testKernelsMatchReferenceAtOddSizes() {
        var rng = SplitMix64(seed: 32)
        for (rows, k, n) in [(1, 128, 1), (17, 384, 5), (45, 2176, 13), (33, 1280, 29), (16, 256, 12), (20, 1152, 337),
                             (20, 2304, 337)] {
            let w = (0 ..< (rows * k)).map { _ in rng.normal() * 0.1 }
            let x = (0 ..< (n * k)).map { _ in rng.normal() }
            let packed = pack(w, type: CK_TYPE_F32, rows: rows, k: k)
            XCTAssertEqual(ck_set_kernels("scalar"), 1)
            let act = prepare(x, k: k, n: n, split: 0)
            let reference = multiply(packed, act, rows: rows, k: k, n: n, range: 0 ..< rows, reference: true)
            // The bound: a few ulps of the sum of |terms| (f32 products of ~unit values).
            let absSum = (0 ..< n).flatMap { t in (0 ..< rows).map { r in (0 ..< k).reduce(Float(0)) { $0 + abs(w[r * k + $1] * x[t * k + $1]) } } }
            for level in Self.levels {
                XCTAssertEqual(ck_set_kernels(level), 1)
                let lo = rows > 3 ? 3 : 0
                let y = multiply(packed, act, rows: rows, k: k, n: n, range: lo ..< rows, reference: false)
                for t in 0 ..< n {
                    for r in 0 ..< rows {
                        let i = t * rows + r
                        if r < lo {
                            XCTAssertEqual(y[i], -7, "row \(r) outside the range was written (\(level))")
                        } else {
                            XCTAssertEqual(y[i], reference[i], accuracy: 4e-6 * absSum[i] + 1e-6, "\(level) \(rows)x\(k) n=\(n) t=\(t) r=\(r)")
                        }
                    }
                }
            }
        }
    }

    /// The reference is the float product up to the two roundings (weights per row,
    /// activations per 128): relative RMS error of a Gaussian product well under 2%, and
    /// exact for values on the int8 grids.
    func testReferenceIsTheQuantizedProduct() {
        var rng = SplitMix64(seed: 33)
        let (rows, k, n) = (40, 512, 7)
        let w = (0 ..< (rows * k)).map { _ in rng.normal() * 0.05 }
        let x = (0 ..< (n * k)).map { _ in rng.normal() }
        XCTAssertEqual(ck_set_kernels("scalar"), 1)
        let y = multiply(pack(w, type: CK_TYPE_F32, rows: rows, k: k), prepare(x, k: k, n: n, split: 0),
                         rows: rows, k: k, n: n, range: 0 ..< rows, reference: true)
        var err = 0.0, ref = 0.0
        for t in 0 ..< n {
            for r in 0 ..< rows {
                var dot = 0.0
                for c in 0 ..< k { dot += Double(w[r * k + c]) * Double(x[t * k + c]) }
                err += (Double(y[t * rows + r]) - dot) * (Double(y[t * rows + r]) - dot)
                ref += dot * dot
            }
        }
        XCTAssertLessThan((err / ref).squareRoot(), 0.02)
        // Integers with max |value| 127 per row and per group: both quantizers are exact.
        let wi = (0 ..< (16 * 128)).map { i in Float(i % 128 == 0 ? 127 : Int(rng.next() % 255) - 127) }
        let xi = (0 ..< 128).map { i in Float(i == 5 ? -127 : Int(rng.next() % 255) - 127) }
        let yi = multiply(pack(wi, type: CK_TYPE_F32, rows: 16, k: 128), prepare(xi, k: 128, n: 1, split: 0),
                          rows: 16, k: 128, n: 1, range: 0 ..< 16, reference: true)
        for r in 0 ..< 16 {
            let exact = (0 ..< 128).reduce(Float(0)) { $0 + wi[r * 128 + $1] * xi[$1] }
            XCTAssertEqual(yi[r], exact, "row \(r)")
        }
    }

    /// Packing from Q8_0/F16 requantizes the dequantized rows: the same bytes as packing
    /// those rows from f32, on every level (the AVX2 row quantizer reproduces roundf); a zero
    /// row gets a zero scale.
    func testPackingFromStoredTypes() {
        var rng = SplitMix64(seed: 34)
        let (rows, k) = (19, 256)
        var w = (0 ..< (rows * k)).map { _ in rng.normal() * 0.1 }
        for c in 0 ..< k { w[2 * k + c] = 0 }
        for type in [CK_TYPE_Q8_0, CK_TYPE_Q4_0, CK_TYPE_F16, CK_TYPE_BF16] {
            let rowBytes = ck_row_size(type, Int64(k))
            var stored = [UInt8](repeating: 0, count: rowBytes * rows)
            var widened = [Float](repeating: 0, count: rows * k)
            stored.withUnsafeMutableBytes { s in
                for r in 0 ..< rows {
                    let dst = s.baseAddress! + r * rowBytes
                    w.withUnsafeBufferPointer { src in
                        let row = src.baseAddress! + r * k
                        switch type {
                        case CK_TYPE_Q8_0: ck_quantize_row_q8_0(row, dst.assumingMemoryBound(to: ck_block_q8_0.self), Int64(k))
                        case CK_TYPE_Q4_0: ck_quantize_row_q4_0(row, dst.assumingMemoryBound(to: ck_block_q4_0.self), Int64(k))
                        case CK_TYPE_F16:
                            for c in 0 ..< k { dst.storeBytes(of: ck_fp32_to_fp16(row[c]), toByteOffset: 2 * c, as: UInt16.self) }
                        default:
                            for c in 0 ..< k { dst.storeBytes(of: UInt16(row[c].bitPattern >> 16), toByteOffset: 2 * c, as: UInt16.self) }
                        }
                    }
                    widened.withUnsafeMutableBufferPointer { ck_dequantize_row(type, dst, $0.baseAddress! + r * k, Int64(k)) }
                }
            }
            XCTAssertEqual(pack(stored, type: type, rows: rows, k: k), pack(widened, type: CK_TYPE_F32, rows: rows, k: k))
        }
        XCTAssertEqual(ck_set_kernels("scalar"), 1)
        let packed = pack(w, type: CK_TYPE_F32, rows: rows, k: k)
        for level in Self.levels {
            XCTAssertEqual(ck_set_kernels(level), 1)
            XCTAssertEqual(pack(w, type: CK_TYPE_F32, rows: rows, k: k), packed, "\(level) quantizes rows like roundf")
        }
        XCTAssertEqual(packed.pointer.load(fromByteOffset: 8, as: Float.self), 0, "zero row, zero scale")
        XCTAssertGreaterThan(packed.pointer.load(fromByteOffset: 4 * 3, as: Float.self), 0)
        let panelBytes = 64 + (k / 32) * 512
        XCTAssertEqual(packed.pointer.load(fromByteOffset: panelBytes + 4 * 3, as: Float.self), 0, "row 19 does not exist")
    }

    // MARK: helpers

    private func prepare(_ x: [Float], k: Int, n: Int, split: Int) -> [UInt8] {
        var act = [UInt8](repeating: 0xAA, count: ck_activations_size(CK_TYPE_Q8_R, Int64(k), Int64(n)))
        act.withUnsafeMutableBytes { a in
            x.withUnsafeBufferPointer { xp in
                if split > 0 { ck_prepare_activations_at(CK_TYPE_Q8_R, xp.baseAddress, Int64(k), Int64(k), 0, Int64(split), a.baseAddress) }
                ck_prepare_activations_at(CK_TYPE_Q8_R, xp.baseAddress! + split * k, Int64(k), Int64(k), Int64(split), Int64(n - split), a.baseAddress)
            }
        }
        return act
    }

    private func pack<T>(_ w: [T], type: ck_type, rows: Int, k: Int) -> AlignedBytes {
        let out = AlignedBytes(count: ck_packed_size(CK_TYPE_Q8_R, Int64(rows), Int64(k)))
        w.withUnsafeBytes { ck_pack_weights_q8r(type, $0.baseAddress, Int64(rows), Int64(k), 0, Int64((rows + 15) / 16), out.pointer) }
        return out
    }

    private func multiply(_ packed: AlignedBytes, _ act: [UInt8], rows: Int, k: Int, n: Int, range: Range<Int>, reference: Bool) -> [Float] {
        var y = [Float](repeating: -7, count: rows * n)
        y.withUnsafeMutableBufferPointer { yp in
            act.withUnsafeBytes { a in
                if reference {
                    ck_matmul_packed_ref(CK_TYPE_Q8_R, packed.pointer, Int64(k), a.baseAddress, Int64(n), yp.baseAddress, Int64(rows),
                                         Int64(range.lowerBound), Int64(range.upperBound))
                } else {
                    ck_matmul_packed(CK_TYPE_Q8_R, packed.pointer, Int64(k), a.baseAddress, Int64(n), yp.baseAddress, Int64(rows),
                                     Int64(range.lowerBound), Int64(range.upperBound))
                }
            }
        }
        return y
    }
}
