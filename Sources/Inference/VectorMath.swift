/// Small vector loops of the attention, written with explicit SIMD.
///
/// Swift does not reassociate floating-point sums, so a plain `for` dot product is one
/// long dependency chain; attention over 512 tokens spent more time there than in the
/// matrix multiplies. Several independent SIMD accumulators remove the chain. (The sum
/// order differs from a sequential loop by rounding only; parity tests bound it.)
enum VectorMath {
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        let ra = UnsafeRawPointer(a)
        let rb = UnsafeRawPointer(b)
        var acc0 = SIMD8<Float>()
        var acc1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
            i += 16
        }
        if i + 8 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        var sum = (acc0 + acc1).sum()
        while i < n {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// y += alpha * x over n values.
    @inline(__always)
    static func addScaled(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        let ry = UnsafeMutableRawPointer(y)
        let rx = UnsafeRawPointer(x)
        let a = SIMD8<Float>(repeating: alpha)
        var i = 0
        while i + 8 <= n {
            let updated = ry.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                + a * rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            ry.storeBytes(of: updated, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            y[i] += alpha * x[i]
            i += 1
        }
    }
}
