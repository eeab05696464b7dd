/// An immutable hash map from byte strings to token ids, built once at load time.
///
/// Why not `[[UInt8]: Int32]`: a lookup there needs an `Array` key (an allocation per
/// pre-token) and SipHash; here keys live in one arena, lookups take a borrowed byte range,
/// and the hash is a cheap FNV-1a. This lookup is the hot path of encoding, because with
/// `ignore_merges` most words are found whole in the vocabulary.
struct ByteStringTable: Sendable {
    private var arena: [UInt8] = []
    private var starts: [UInt32] = []
    private var lengths: [UInt32] = []
    private var values: [Int32] = []
    private var hashes: [UInt32] = []
    /// Open addressing; each slot holds an entry index + 1, 0 when empty.
    private var slots: [UInt32] = []
    private var mask = 0

    var count: Int { values.count }

    init() {}

    @inline(__always)
    static func hash(_ p: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in p {
            h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3
        }
        return h ^ (h >> 29)
    }

    /// Adds an entry (later entries with the same key replace earlier ones).
    /// Call `finish()` once all entries are added.
    mutating func append(_ key: UnsafeBufferPointer<UInt8>, value: Int32) {
        starts.append(UInt32(arena.count))
        lengths.append(UInt32(key.count))
        arena.append(contentsOf: key)
        values.append(value)
        hashes.append(UInt32(truncatingIfNeeded: Self.hash(UnsafeRawBufferPointer(key))))
    }

    /// Builds the hash index.
    mutating func finish() {
        var capacity = 16
        while capacity < values.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        slots = [UInt32](repeating: 0, count: capacity)
        for entry in 0..<values.count {
            var slot = Int(hashes[entry]) & mask
            while true {
                let occupant = slots[slot]
                if occupant == 0 {
                    slots[slot] = UInt32(entry + 1)
                    break
                }
                if keyEquals(Int(occupant - 1), entry) {
                    slots[slot] = UInt32(entry + 1)  // duplicate key: last one wins
                    break
                }
                slot = (slot + 1) & mask
            }
        }
    }

    private func keyEquals(_ a: Int, _ b: Int) -> Bool {
        guard hashes[a] == hashes[b], lengths[a] == lengths[b] else { return false }
        let sa = Int(starts[a]), sb = Int(starts[b])
        for k in 0..<Int(lengths[a]) where arena[sa + k] != arena[sb + k] { return false }
        return true
    }

    /// The value for a key, or -1.
    @inline(__always)
    func lookup(_ key: UnsafeRawBufferPointer) -> Int32 {
        let h = UInt32(truncatingIfNeeded: Self.hash(key))
        return slots.withUnsafeBufferPointer { slots in
            hashes.withUnsafeBufferPointer { hashes in
                arena.withUnsafeBufferPointer { arena in
                    var slot = Int(h) & mask
                    while true {
                        let occupant = slots[slot]
                        if occupant == 0 { return -1 }
                        let e = Int(occupant - 1)
                        if hashes[e] == h, Int(lengths[e]) == key.count {
                            let start = Int(starts[e])
                            if key.count == 0 || memcmpEqual(arena.baseAddress! + start, key.baseAddress!, key.count) {
                                return values[e]
                            }
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
    }

    func lookup(_ key: [UInt8]) -> Int32 {
        key.withUnsafeBytes { lookup($0) }
    }
}

@inline(__always)
private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    let b = b.assumingMemoryBound(to: UInt8.self)
    var k = 0
    while k < n {
        if a[k] != b[k] { return false }
        k += 1
    }
    return true
}
