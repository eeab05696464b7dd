import CKernels
import Foundation
import TestSupport
import XCTest

/// The forward pass's other kernels (ck_ops.c dispatching to ck_ops_ref.c, ck_ops_avx2.c and
/// ck_ops_avx512.c): every SIMD level this CPU has (AVX2; AVX-512 for attention, SwiGLU and
/// RMSNorm) against the scalar references, at sizes that exercise vector tails and partial
/// query tiles.
final class OpsTests: XCTestCase {
    override func tearDown() {
        _ = ck_set_kernels(nil)
        super.tearDown()
    }

    /// Runs `body` under every SIMD level and once forced to the scalar reference; `fast`
    /// holds one result per level (empty on a CPU without SIMD, where nothing is compared).
    private func both<T>(_ body: () -> T) -> (fast: [T], ref: T) {
        var fast: [T] = []
        for level in MatmulTests.simd {
            XCTAssertEqual(ck_set_kernels(level), 1)
            fast.append(body())
        }
        XCTAssertEqual(ck_set_kernels("scalar"), 1)
        let ref = body()
        _ = ck_set_kernels(nil)
        return (fast, ref)
    }

    func testRMSNormMatchesReference() {
        var rng = SplitMix64(seed: 11)
        for n in [1, 7, 8, 33, 2048, 2053] {
            let x = (0 ..< n).map { _ in rng.normal() * 3 }
            let w = (0 ..< n).map { _ in rng.normal() }
            let r = both { () -> [Float] in
                var y = [Float](repeating: 0, count: n)
                ck_rmsnorm(x, w, &y, Int64(n), 1e-5)
                return y
            }
            // Same float scale (the double sum rounds alike), then the same two products.
            for fast in r.fast { XCTAssertEqual(fast, r.ref, "n=\(n)") }
        }
    }

    func testSwiGLUWithinTwoUlpOfReference() {
        var rng = SplitMix64(seed: 12)
        for n in [1, 9, 64, 1000, 8195] {
            var g = (0 ..< n).map { _ in rng.normal() * 6 }
            g[0] = -100 // exp overflow side: silu -> -0
            if n > 1 { g[1] = 95 } // exp underflow side: silu -> x
            let u = (0 ..< n).map { _ in rng.normal() }
            let r = both { () -> [Float] in
                var y = g
                ck_swiglu(&y, u, Int64(n))
                return y
            }
            for fast in r.fast {
                for i in 0 ..< n {
                    let tolerance = 4 * r.ref[i].magnitude.ulp + 1e-30
                    XCTAssertLessThanOrEqual(abs(fast[i] - r.ref[i]), tolerance, "n=\(n) i=\(i) g=\(g[i])")
                }
            }
        }
    }

    func testRoPEIsBitIdentical() {
        var rng = SplitMix64(seed: 13)
        for (heads, d) in [(1, 16), (3, 64), (2, 6), (32, 64)] {
            let x = (0 ..< heads * d).map { _ in rng.normal() }
            let cs = (0 ..< d / 2).map { _ in rng.uniform() * 2 - 1 }
            let sn = (0 ..< d / 2).map { _ in rng.uniform() * 2 - 1 }
            let r = both { () -> [Float] in
                var y = x
                ck_rope(&y, Int64(heads), Int64(d), cs, sn)
                return y
            }
            for fast in r.fast { XCTAssertEqual(fast, r.ref, "heads=\(heads) d=\(d)") }
        }
    }

    func testAddMatchesReference() {
        var rng = SplitMix64(seed: 14)
        let x = (0 ..< 37).map { _ in rng.normal() }, y = (0 ..< 37).map { _ in rng.normal() }
        let r = both { () -> [Float] in
            var z = x
            ck_add(&z, y, 37)
            return z
        }
        for fast in r.fast { XCTAssertEqual(fast, r.ref) }
    }

    /// Causal GQA attention: prefixes of odd lengths, several group sizes, a single query at a
    /// late position (the last layer's pooled token), strided rows.
    func testAttentionMatchesReference() {
        var rng = SplitMix64(seed: 15)
        let cases: [(queries: Int, first: Int, d: Int, group: Int)] = [
            (1, 0, 64, 4), (13, 0, 64, 4), (37, 0, 16, 2), (1, 100, 64, 4), (1, 20, 32, 1),
            (9, 0, 64, 8), (5, 3, 64, 3), (70, 0, 64, 4), (6, 0, 8, 2), // d = 8: reference fallback
            // AVX-512 query tiles: exact tiles, a partial last tile, group 1 and 16, a late start
            (4, 0, 64, 4), (3, 7, 64, 4), (17, 5, 64, 1), (33, 0, 32, 16), (130, 2, 64, 4),
        ]
        for c in cases {
            let keys = c.first + c.queries
            let ldq = c.group * c.d + 5, ldkv = c.d + 3, ldo = c.group * c.d + 2
            let q = (0 ..< c.queries * ldq).map { _ in rng.normal() }
            let k = (0 ..< keys * ldkv).map { _ in rng.normal() * 2 }
            let v = (0 ..< keys * ldkv).map { _ in rng.normal() }
            let scratchFloats = ck_attention_scratch_size(Int64(keys), Int64(c.d), Int64(c.group)) / 4
            let scale = 1 / Float(c.d).squareRoot()
            let r = both { () -> [Float] in
                var out = [Float](repeating: .nan, count: c.queries * ldo)
                var scratch = [Float](repeating: .nan, count: scratchFloats)
                ck_attention(q, Int64(ldq), Int64(c.queries), Int64(c.first), k, v, Int64(ldkv),
                             &out, Int64(ldo), Int64(c.d), Int64(c.group), scale, &scratch)
                return out
            }
            for (level, fast) in zip(MatmulTests.simd, r.fast) {
                for i in 0 ..< c.queries {
                    for j in 0 ..< c.group * c.d {
                        let a = fast[i * ldo + j], b = r.ref[i * ldo + j]
                        XCTAssertLessThanOrEqual(abs(a - b), 2e-5, "\(level) \(c) query \(i) element \(j)")
                    }
                    // Padding columns between rows are never written.
                    for j in c.group * c.d ..< ldo { XCTAssertTrue(fast[i * ldo + j].isNaN, "\(level) \(c)") }
                }
            }
        }
    }
}
