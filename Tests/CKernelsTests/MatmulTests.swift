import CKernels
import Foundation
import TestSupport
import XCTest

final class MatmulTests: XCTestCase {
    static let types: [ck_type] = [CK_TYPE_Q8_0, CK_TYPE_Q4_0, CK_TYPE_F32, CK_TYPE_F16, CK_TYPE_BF16]

    override func tearDown() {
        _ = ck_set_kernels(nil)
        super.tearDown()
    }

    /// The SIMD implementations this CPU has, besides the scalar reference.
    static let simd: [String] = {
        defer { _ = ck_set_kernels(nil) }
        return ["avx2", "avx512vnni"].filter { ck_set_kernels($0) == 1 }
    }()

    func testKernelName() {
        let name = String(cString: ck_kernel_name())
        XCTAssertTrue(["avx512vnni", "avx2", "scalar"].contains(name), name)
        #if arch(x86_64)
        if ProcessInfo.processInfo.environment["DUOGUARD_KERNELS"] == nil {
            print("CKernels dispatch: \(name)")
        }
        #endif
        XCTAssertEqual(ck_set_kernels("scalar"), 1)
        XCTAssertEqual(String(cString: ck_kernel_name()), "scalar")
        XCTAssertEqual(ck_set_kernels("bogus"), 0)
        for level in Self.simd {
            XCTAssertEqual(ck_set_kernels(level), 1)
            XCTAssertEqual(String(cString: ck_kernel_name()), level)
        }
        XCTAssertEqual(ck_set_kernels(nil), 1)
        print("CKernels SIMD levels on this CPU: \(Self.simd)")
    }

    /// Packing keeps the ggml size (plus the last panel's padding) and rejects bad shapes.
    func testPackedSize() {
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q4_0, 16, 64), 64 + 2 * 256)
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q8_0, 17, 32), 2 * (64 + 512))
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q4_0, 2048, 2048), 128 * (2048 + 64 * 256))
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q4_0, 2048, 2048), ck_row_size(CK_TYPE_Q4_0, 2048) * 2048)
        XCTAssertEqual(ck_packed_size(CK_TYPE_F32, 16, 32), 0)
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q8_0, 16, 33), 0)
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q8_0, -1, 32), 0)
        XCTAssertEqual(ck_packed_size(CK_TYPE_Q8_0, Int64.max / 2, 32), 0, "overflow")
    }

    /// The packed scalar kernel is bit-identical to the ggml-layout reference, and packing
    /// disjoint panel ranges (as the loader does on several threads) gives the same bytes.
    func testPackedReferenceIsBitIdentical() {
        var rng = SplitMix64(seed: 6)
        for type in [CK_TYPE_Q8_0, CK_TYPE_Q4_0] {
            for (rows, k, n) in [(1, 32, 1), (17, 96, 3), (40, 2080, 5), (33, 64, 9)] {
                let w = quantize((0..<(rows * k)).map { _ in rng.normal() * 0.1 }, type)
                let x = (0..<(n * k)).map { _ in rng.normal() }
                let act = prepare(type, x, ldx: k, k: k, n: n)
                let whole = pack(type, w, rows: rows, k: k)
                let pieces = AlignedBytes(count: whole.count)
                let panels = (rows + 15) / 16
                w.withUnsafeBytes { wp in
                    for p in stride(from: panels - 1, through: 0, by: -1) {
                        ck_pack_weights(type, wp.baseAddress, Int64(rows), Int64(k), Int64(p), Int64(p + 1), pieces.pointer)
                    }
                }
                XCTAssertTrue(whole == pieces, "type \(type.rawValue) rows \(rows)")
                var yRef = [Float](repeating: 0, count: rows * n), yPacked = [Float](repeating: 1, count: rows * n)
                w.withUnsafeBytes { wp in act.withUnsafeBytes { ap in whole.withUnsafeBytes { pp in
                    ck_matmul_ref(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &yRef, Int64(rows), 0, Int64(rows))
                    ck_matmul_packed_ref(type, pp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &yPacked, Int64(rows), 0, Int64(rows))
                } } }
                XCTAssertEqual(yRef.map(\.bitPattern), yPacked.map(\.bitPattern), "type \(type.rawValue) rows \(rows) k \(k)")
            }
        }
    }

    /// The dispatched activation preparation writes exactly the reference bytes.
    func testPrepareActivationsMatchesScalar() {
        var rng = SplitMix64(seed: 3)
        for type in Self.types {
            for (k, n) in [(32, 1), (96, 5), (2080, 17), (4096, 3)] {
                let ldx = k + 7
                let x = (0..<(ldx * n)).map { _ in rng.normal() * 2 }
                XCTAssertEqual(ck_set_kernels("scalar"), 1)
                let ref = prepare(type, x, ldx: ldx, k: k, n: n)
                for level in Self.simd {
                    XCTAssertEqual(ck_set_kernels(level), 1)
                    XCTAssertTrue(prepare(type, x, ldx: ldx, k: k, n: n) == ref, "prepare \(level) \(type.rawValue) k=\(k) n=\(n)")
                }
                _ = ck_set_kernels(nil)
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

    /// Weight bytes no ggml quantizer writes but a file may hold (Q8_0 quants of -128, every
    /// Q4_0 byte, extreme activations): every level, both layouts, agrees with the reference.
    /// The integer sums stay exact (|sum| <= 32 * 255 * 128 per block), so the bound is tight.
    func testArbitraryQuantBytesMatchReference() {
        var rng = SplitMix64(seed: 9)
        let rows = 37, k = 320, n = 13
        for type in [CK_TYPE_Q8_0, CK_TYPE_Q4_0] {
            let rowBytes = Int(ck_row_size(type, Int64(k)))
            let blockBytes = type == CK_TYPE_Q8_0 ? 34 : 18
            var w = (0 ..< rows * rowBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            for block in 0 ..< rows * rowBytes / blockBytes {
                // A finite scale in [2^-10, 2^-2): fp16 exponent 5...12.
                let h = UInt16(5 + rng.next() % 8) << 10 | UInt16(rng.next() % 1024)
                w[block * blockBytes] = UInt8(h & 0xff)
                w[block * blockBytes + 1] = UInt8(h >> 8)
                if type == CK_TYPE_Q8_0, block % 3 == 0 { w[block * blockBytes + 2] = 0x80 } // -128
            }
            // Activations whose blocks round to +-127 at both ends.
            let x = (0 ..< n * k).map { i in i % 32 == 0 ? Float(i % 64 == 0 ? 1e4 : -1e4) : rng.normal() * 100 }
            let act = prepare(type, x, ldx: k, k: k, n: n)
            let packed = pack(type, w, rows: rows, k: k)
            var ref = [Float](repeating: 0, count: rows * n)
            w.withUnsafeBytes { wp in act.withUnsafeBytes { ap in
                ck_matmul_ref(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &ref, Int64(rows), 0, Int64(rows))
            } }
            // Float order only differs: bound by the sum of |terms| (the result itself cancels).
            let wd = dequantize(w, type, count: rows * k)
            var sumAbs = [Double](repeating: 0, count: rows * n)
            for t in 0 ..< n {
                for r in 0 ..< rows {
                    var a = 0.0
                    for j in 0 ..< k { a += abs(Double(wd[r * k + j]) * Double(x[t * k + j])) }
                    sumAbs[t * rows + r] = a * 1.02 + 1e-30 // activation rounding moves each term <= 1/254
                }
            }
            for level in ["scalar"] + Self.simd {
                XCTAssertEqual(ck_set_kernels(level), 1)
                var y1 = [Float](repeating: 0, count: rows * n), y2 = y1
                w.withUnsafeBytes { wp in act.withUnsafeBytes { ap in packed.withUnsafeBytes { pp in
                    ck_matmul(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &y1, Int64(rows), 0, Int64(rows))
                    ck_matmul_packed(type, pp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &y2, Int64(rows), 0, Int64(rows))
                } } }
                for i in 0 ..< rows * n {
                    let bound = Float(Double(k / 32 + 8) * 2.4e-7 * sumAbs[i])
                    XCTAssertLessThanOrEqual(abs(y1[i] - ref[i]), bound, "\(level) ggml type \(type.rawValue) i=\(i)")
                    XCTAssertLessThanOrEqual(abs(y2[i] - ref[i]), bound, "\(level) packed type \(type.rawValue) i=\(i)")
                }
            }
            _ = ck_set_kernels(nil)
        }
    }

    /// Splitting the rows across calls (as the threaded caller does) gives identical results,
    /// with weights in ggml layout and packed, on every implementation, also for ranges that
    /// start inside a 16-row panel.
    func testRowSplitsAreIndependent() {
        var rng = SplitMix64(seed: 4)
        let rows = 77, k = 256, n = 19
        for level in ["scalar"] + Self.simd {
            XCTAssertEqual(ck_set_kernels(level), 1)
            for type in Self.types {
                let w = quantize((0..<(rows * k)).map { _ in rng.normal() }, type)
                let x = (0..<(n * k)).map { _ in rng.normal() }
                let act = prepare(type, x, ldx: k, k: k, n: n)
                let packed = pack(type, w, rows: rows, k: k)
                var whole = [Float](repeating: 0, count: rows * n), split = whole
                var packedWhole = whole, packedSplit = whole
                w.withUnsafeBytes { wp in act.withUnsafeBytes { ap in packed.withUnsafeBytes { pp in
                    ck_matmul(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &whole, Int64(rows), 0, Int64(rows))
                    for (a, b) in [(0, 5), (5, 38), (38, 39), (39, 77)] {
                        ck_matmul(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &split, Int64(rows), Int64(a), Int64(b))
                    }
                    guard !packed.isEmpty else { return }
                    ck_matmul_packed(type, pp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &packedWhole, Int64(rows), 0, Int64(rows))
                    for (a, b) in [(0, 5), (5, 38), (38, 39), (39, 64), (64, 77)] {
                        ck_matmul_packed(type, pp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &packedSplit, Int64(rows), Int64(a), Int64(b))
                    }
                } } }
                XCTAssertEqual(whole, split, "\(level) type \(type.rawValue)")
                if !packed.isEmpty {
                    XCTAssertEqual(packedWhole, packedSplit, "\(level) packed type \(type.rawValue)")
                }
            }
        }
    }

    private func runShapes(rowsList: [Int] = [1, 3, 7, 33, 65], kList: [Int] = [32, 64, 96, 2080],
                           tokensList: [Int] = [1, 2, 3, 5, 17, 64, 65], types: [ck_type] = MatmulTests.types) {
        var rng = SplitMix64(seed: 5)
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

    /// Every implementation, with weights in ggml layout and (Q8_0/Q4_0) packed, against the
    /// scalar reference (tight: same integer sums, float order differs) and the reference
    /// against naive f64 math on the dequantized weights (loose: activation quantization).
    private func check(type: ck_type, rows: Int, k: Int, n: Int, wq: [UInt8], wd: [Float], x: [Float], ldx: Int) {
        let label = "type=\(type.rawValue) rows=\(rows) k=\(k) n=\(n)"
        let act = prepare(type, x, ldx: ldx, k: k, n: n)
        let packed = pack(type, wq, rows: rows, k: k)
        let ldy = rows + 2
        let rowBegin = rows / 3, rowEnd = rows
        let sentinel = Float(bitPattern: 0x7fc0_1234)
        var yRef = [Float](repeating: sentinel, count: n * ldy)
        var variants: [(String, [Float])] = []
        let current = String(cString: ck_kernel_name())
        for level in current == "scalar" ? ["scalar"] : Self.simd {
            XCTAssertEqual(ck_set_kernels(level), 1)
            var y = yRef
            wq.withUnsafeBytes { wp in act.withUnsafeBytes { ap in
                ck_matmul(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &y, Int64(ldy), Int64(rowBegin), Int64(rowEnd))
            } }
            variants.append(("\(level) ggml", y))
            if !packed.isEmpty {
                var yp = yRef
                packed.withUnsafeBytes { pp in act.withUnsafeBytes { ap in
                    ck_matmul_packed(type, pp.baseAddress, Int64(k), ap.baseAddress, Int64(n), &yp, Int64(ldy), Int64(rowBegin), Int64(rowEnd))
                } }
                variants.append(("\(level) packed", yp))
            }
        }
        _ = ck_set_kernels(current)
        wq.withUnsafeBytes { wp in act.withUnsafeBytes { ap in
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
                    for (name, y) in variants + [("ref", yRef)] where y[i].bitPattern != sentinel.bitPattern {
                        XCTFail("\(label) \(name): wrote outside its rows at t=\(t) r=\(r)"); return
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
                let loose = quantized ? quantErr + 2e-3 * absScale + 1e-6 : Double(k) * 2.4e-7 * absScale + 1e-30
                let refExactDiff = abs(Double(yRef[i]) - exact)
                let tightBound = quantized ? tight : Double(k) * 2.4e-7 * absScale + 1e-30
                if refExactDiff > loose {
                    failures += 1
                    if failures <= 3 { XCTFail("\(label) t=\(t) r=\(r): ref \(yRef[i]) exact \(exact) (loose \(loose))") }
                }
                for (name, y) in variants {
                    if abs(Double(y[i]) - Double(yRef[i])) > tightBound || !y[i].isFinite {
                        failures += 1
                        if failures <= 3 {
                            XCTFail("\(label) \(name) t=\(t) r=\(r): \(y[i]) ref \(yRef[i]) (tight \(tightBound))")
                        }
                    }
                }
            }
        }
    }

    private func prepare(_ type: ck_type, _ x: [Float], ldx: Int, k: Int, n: Int) -> [UInt8] {
        var act = [UInt8](repeating: 0xAA, count: ck_activations_size(type, Int64(k), Int64(n)))
        act.withUnsafeMutableBytes { ck_prepare_activations(type, x, Int64(ldx), Int64(k), Int64(n), $0.baseAddress) }
        return act
    }

    /// The packed copy (empty for types that are not packed). [UInt8] storage is at least
    /// 16-byte aligned; the kernels' aligned loads need 64, so the copy is re-based.
    private func pack(_ type: ck_type, _ w: [UInt8], rows: Int, k: Int) -> AlignedBytes {
        let out = AlignedBytes(count: ck_packed_size(type, Int64(rows), Int64(k)))
        guard out.count > 0 else { return out }
        w.withUnsafeBytes { wp in
            ck_pack_weights(type, wp.baseAddress, Int64(rows), Int64(k), 0, Int64((rows + 15) / 16), out.pointer)
        }
        return out
    }
}

/// A 64-byte aligned byte buffer (the packed panels are read with aligned vector loads).
final class AlignedBytes: Equatable {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0xCD, count: max(count, 1))
    }
    deinit { pointer.deallocate() }
    var isEmpty: Bool { count == 0 }
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }
    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }
    static func == (a: AlignedBytes, b: AlignedBytes) -> Bool {
        a.count == b.count && memcmp(a.pointer, b.pointer, a.count) == 0
    }
}
