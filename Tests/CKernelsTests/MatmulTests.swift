import CKernels
import Foundation
import XCTest

final class MatmulTests: XCTestCase {
    static let types: [ck_type] = [CK_TYPE_Q8_0, CK_TYPE_Q4_0, CK_TYPE_F32, CK_TYPE_F16, CK_TYPE_BF16]

    override func tearDown() {
        _ = ck_set_kernels(nil)
        super.tearDown()
    }

    func testKernelName() {
        let name = String(cString: ck_kernel_name())
        XCTAssertTrue(["avx2", "scalar"].contains(name), name)
        #if arch(x86_64)
        if ProcessInfo.processInfo.environment["DUOGUARD_KERNELS"] == nil {
            print("CKernels dispatch: \(name)")
        }
        #endif
        XCTAssertEqual(ck_set_kernels("scalar"), 1)
        XCTAssertEqual(String(cString: ck_kernel_name()), "scalar")
        XCTAssertEqual(ck_set_kernels("bogus"), 0)
        XCTAssertEqual(ck_set_kernels(nil), 1)
    }

    /// The dispatched activation preparation writes exactly the reference bytes.
    func testPrepareActivationsMatchesScalar() {
        var rng = SplitMix(seed: 3)
        for type in Self.types {
            for (k, n) in [(32, 1), (96, 5), (2080, 17), (4096, 3)] {
                let ldx = k + 7
                let x = (0..<(ldx * n)).map { _ in rng.normal() * 2 }
                let size = ck_activations_size(type, Int64(k), Int64(n))
                var fast = [UInt8](repeating: 0xAA, count: size), ref = [UInt8](repeating: 0x55, count: size)
                fast.withUnsafeMutableBytes { ck_prepare_activations(type, x, Int64(ldx), Int64(k), Int64(n), $0.baseAddress) }
                XCTAssertEqual(ck_set_kernels("scalar"), 1)
                ref.withUnsafeMutableBytes { ck_prepare_activations(type, x, Int64(ldx), Int64(k), Int64(n), $0.baseAddress) }
                _ = ck_set_kernels(nil)
                XCTAssertTrue(fast == ref, "prepare \(type.rawValue) k=\(k) n=\(n)")
            }
        }
    }

    func testMatmulMatchesReferenceAtOddShapes() {
        runShapes()
    }

    func testForcedScalarPathPasses() {
        XCTAssertEqual(ck_set_kernels("scalar"), 1)
        XCTAssertEqual(String(cString: ck_kernel_name()), "scalar")
        runShapes(rowsList: [1, 7, 33], kList: [32, 96], tokensList: [1, 3, 17])
    }

    /// Larger shapes that exercise several k-chunks and full register tiles.
    func testMatmulMatchesReferenceAtModelLikeShapes() {
        runShapes(rowsList: [130], kList: [2048, 8192], tokensList: [64, 67], types: [CK_TYPE_Q8_0, CK_TYPE_Q4_0])
        runShapes(rowsList: [70], kList: [2048], tokensList: [37], types: [CK_TYPE_F32, CK_TYPE_F16, CK_TYPE_BF16])
    }

    /// Splitting the rows across calls (as the threaded caller does) gives identical results.
    func testRowSplitsAreIndependent() {
        var rng = SplitMix(seed: 4)
        let rows = 77, k = 256, n = 19
        for type in Self.types {
            let w = quantize((0..<(rows * k)).map { _ in rng.normal() }, type)
            let x = (0..<(n * k)).map { _ in rng.normal() }
            var act = [UInt8](repeating: 0, count: ck_activations_size(type, Int64(k), Int64(n)))
            act.withUnsafeMutableBytes { ck_prepare_activations(type, x, Int64(k), Int64(k), Int64(n), $0.baseAddress) }
            var whole = [Float](repeating: 0, count: rows * n), split = whole
            w.withUnsafeBytes { wp in act.withUnsafeBytes { ap in
                ck_matmul(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &whole, Int64(rows), 0, Int64(rows))
                for (a, b) in [(0, 5), (5, 38), (38, 39), (39, 77)] {
                    ck_matmul(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &split, Int64(rows), Int64(a), Int64(b))
                }
            } }
            XCTAssertEqual(whole, split, "type \(type.rawValue)")
        }
    }

    private func runShapes(rowsList: [Int] = [1, 3, 7, 33, 65], kList: [Int] = [32, 64, 96, 2080],
                           tokensList: [Int] = [1, 2, 3, 5, 17, 64, 65], types: [ck_type] = MatmulTests.types) {
        var rng = SplitMix(seed: 5)
        for type in types {
            for rows in rowsList {
                for k in kList {
                    let wf = (0..<(rows * k)).map { _ in rng.normal() * 0.05 }
                    let wq = quantize(wf, type)
                    let wd = dequantize(wq, type, count: rows * k)
                    for n in tokensList {
                        let ldx = k + 3
                        let x = (0..<(n * ldx)).map { _ in rng.normal() }
                        check(type: type, rows: rows, k: k, n: n, wq: wq, wd: wd, x: x, ldx: ldx)
                    }
                }
            }
        }
    }

    private func check(type: ck_type, rows: Int, k: Int, n: Int, wq: [UInt8], wd: [Float], x: [Float], ldx: Int) {
        let label = "type=\(type.rawValue) rows=\(rows) k=\(k) n=\(n)"
        var act = [UInt8](repeating: 0, count: ck_activations_size(type, Int64(k), Int64(n)))
        act.withUnsafeMutableBytes { ck_prepare_activations(type, x, Int64(ldx), Int64(k), Int64(n), $0.baseAddress) }
        let ldy = rows + 2
        let rowBegin = rows / 3, rowEnd = rows
        let sentinel = Float(bitPattern: 0x7fc0_1234)
        var yFast = [Float](repeating: sentinel, count: n * ldy), yRef = yFast
        wq.withUnsafeBytes { wp in act.withUnsafeBytes { ap in
            ck_matmul(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &yFast, Int64(ldy), Int64(rowBegin), Int64(rowEnd))
            ck_matmul_ref(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &yRef, Int64(ldy), Int64(rowBegin), Int64(rowEnd))
        } }
        let quantized = type == CK_TYPE_Q8_0 || type == CK_TYPE_Q4_0
        var failures = 0
        // Checking every output costs rows * n * k in (debug) Swift; sample big shapes.
        let stride = max(1, rows * n * k / 4_000_000)
        for t in 0..<n {
            for r in 0..<ldy {
                let i = t * ldy + r
                if i % stride != 0 && r >= rowBegin && r < rowEnd { continue }
                if r < rowBegin || r >= rowEnd {
                    if yFast[i].bitPattern != sentinel.bitPattern || yRef[i].bitPattern != sentinel.bitPattern {
                        XCTFail("\(label): wrote outside its rows at t=\(t) r=\(r)"); return
                    }
                    continue
                }
                // Naive f32 math on dequantized weights and the original activations, in Double.
                var exact = 0.0, absScale = 0.0, quantErr = 0.0
                for b in 0..<(k / 32) {
                    var amax = 0.0, wsum = 0.0
                    for j in 0..<32 {
                        let w = Double(wd[r * k + b * 32 + j]), xv = Double(x[t * ldx + b * 32 + j])
                        exact += w * xv
                        absScale += abs(w * xv)
                        amax = max(amax, abs(xv))
                        wsum += abs(w)
                    }
                    quantErr += wsum * amax / 127 * 0.55
                }
                // Same integer math, float accumulation in another order: tight.
                let tight = Double(k / 32 + k / 256 + 8) * 2.4e-7 * (absScale + quantErr) + 1e-30
                let fastRefDiff = abs(Double(yFast[i]) - Double(yRef[i]))
                let loose = quantized ? quantErr + 2e-3 * absScale + 1e-6 : Double(k) * 2.4e-7 * absScale + 1e-30
                let refExactDiff = abs(Double(yRef[i]) - exact)
                let tightBound = quantized ? tight : Double(k) * 2.4e-7 * absScale + 1e-30
                if fastRefDiff > tightBound || refExactDiff > loose || !yFast[i].isFinite {
                    failures += 1
                    if failures <= 3 {
                        XCTFail("\(label) t=\(t) r=\(r): fast \(yFast[i]) ref \(yRef[i]) exact \(exact) (tight \(tightBound), loose \(loose))")
                    }
                }
            }
        }
    }
}
