/// A small seeded generator (SplitMix64): the same seed gives the same cases on every
/// machine, so a case number and a seed are enough to reproduce an input. Shared by the
/// test targets (fuzzers, mutation tests, random fault moments).
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0 ..< n` (n > 0).
    public mutating func below(_ n: Int) -> Int {
        Int(next() % UInt64(n))
    }

    /// True with probability 1 / n.
    public mutating func oneIn(_ n: Int) -> Bool {
        below(n) == 0
    }

    /// A value in `range`, uniformly (53 bits of the next value).
    public mutating func next(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(next() >> 11) / Double(UInt64(1) << 53)
    }
}
