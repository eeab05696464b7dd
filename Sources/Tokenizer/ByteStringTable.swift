/// An immutable hash map from byte strings to token ids, built once at load time.
///
/// Why not `[[UInt8]: Int32]`: a lookup there needs an `Array` key (an allocation per
/// pre-token) and SipHash. Here a lookup takes a borrowed byte range, hashes it 8 bytes at a
/// time, and touches as little memory as possible: a slot holds the key's first 8 bytes and the
/// value, so a key of up to 7 bytes (most tokens) is answered by one slot read; longer keys
/// check their length and tail in `entries`. This lookup is the hot path of encoding (with
/// `ignore_merges` most words are found whole in the vocabulary) and of loading (three
/// lookups per merge rule), where cache misses dominate.
struct ByteStringTable: Sendable {
    struct Entry {
        var prefix: UInt64
        var start: UInt32
        var length: UInt32
        var value: Int32
    }

    private var arena: [UInt8] = []
    private var entries: [Entry] = []
    /// Open addressing. x: the key word (see `word`); y: 0 when empty, else bit 63 set for keys
    /// of 8 bytes or more, entry index + 1 in bits 32...62, the value in bits 0...31.
    private var slots: [SIMD2<UInt64>] = []
    private var mask = 0
    private static let longFlag: UInt64 = 1 << 63

    /// The slot word of a key: its first 8 bytes; for keys shorter than 8 bytes the unused top
    /// byte holds the length, so that "a" and "a\0" differ. (Keys of 8 bytes or more are told
    /// apart from short ones by the long flag.)
    @inline(__always)
    private static func word(_ prefix: UInt64, count: Int) -> UInt64 {
        count < 8 ? prefix | UInt64(truncatingIfNeeded: count) << 56 : prefix
    }

    var count: Int { entries.count }

    init() {}

    /// The first (up to) 8 bytes, little-endian, zero-padded.
    @inline(__always)
    private static func prefix(_ p: UnsafeRawBufferPointer) -> UInt64 {
        let n = p.count
        guard let base = p.baseAddress else { return 0 }
        if n >= 8 { return UInt64(littleEndian: base.loadUnaligned(as: UInt64.self)) }
        var v: UInt64 = 0
        if n >= 4 {
            v = UInt64(UInt32(littleEndian: base.loadUnaligned(as: UInt32.self)))
            let hi = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self)))
            // Overlapping read of the last 4 bytes: drop the 8 - n already in `v`, then place
            // bytes 4..<n (`>>` is a smart shift: by 32 bits it gives 0, for n == 4).
            return v | (hi >> (UInt64(8 - n) * 8)) << 32
        }
        for k in 0..<n { v |= UInt64(base.load(fromByteOffset: k, as: UInt8.self)) << (UInt64(k) * 8) }
        return v
    }

    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var h = x &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }

    /// Hash of the whole key, 8 bytes per step.
    @inline(__always)
    private static func hash(_ p: UnsafeRawBufferPointer, prefix: UInt64) -> UInt32 {
        var h = mix(prefix ^ UInt64(p.count))
        if p.count > 8, let base = p.baseAddress {
            var k = 8
            while k + 8 <= p.count {
                h = mix(h ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: k, as: UInt64.self)))
                k += 8
            }
            if k < p.count {
                h = mix(h ^ Self.prefix(UnsafeRawBufferPointer(rebasing: p[k...])) ^ 0x5555)
            }
        }
        return UInt32(truncatingIfNeeded: h)
    }

    /// Adds an entry (a later entry with the same key replaces an earlier one).
    /// Call `finish()` once all entries are added.
    mutating func append(_ key: UnsafeBufferPointer<UInt8>, value: Int32) {
        entries.append(Entry(prefix: Self.prefix(UnsafeRawBufferPointer(key)), start: UInt32(arena.count),
                             length: UInt32(key.count), value: value))
        arena.append(contentsOf: key)
    }

    /// Adds an entry spelled in the byte-level alphabet (a vocab key as written in
    /// tokenizer.json), converting it straight into the arena. Returns false, adding nothing,
    /// when the spelling is not byte-level.
    mutating func append(byteLevel utf8: UnsafeBufferPointer<UInt8>, value: Int32) -> Bool {
        let start = arena.count
        guard ByteLevelAlphabet.rawBytes(ofUTF8: utf8, into: &arena) else {
            arena.removeSubrange(start...)
            return false
        }
        let prefix = arena.withUnsafeBytes { Self.prefix(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        entries.append(Entry(prefix: prefix, start: UInt32(start), length: UInt32(arena.count - start), value: value))
        return true
    }

    /// Calls `body(value, bytes)` for every entry, in insertion order.
    func forEach(_ body: (Int32, UnsafeBufferPointer<UInt8>) -> Void) {
        arena.withUnsafeBufferPointer { arena in
            for e in entries {
                body(e.value, UnsafeBufferPointer(rebasing: arena[Int(e.start)..<Int(e.start + e.length)]))
            }
        }
    }

    /// Builds the hash index.
    mutating func finish() {
        var capacity = 16
        while capacity < entries.count * 2 { capacity <<= 1 }
        mask = capacity - 1
        var slots = [SIMD2<UInt64>](repeating: SIMD2(0, 0), count: capacity)
        arena.withUnsafeBytes { arena in
            for (index, e) in entries.enumerated() {
                let key = UnsafeRawBufferPointer(rebasing: arena[Int(e.start)..<Int(e.start + e.length)])
                let h = Self.hash(key, prefix: e.prefix)
                let w = Self.word(e.prefix, count: key.count)
                let long = key.count >= 8 ? Self.longFlag : 0
                let meta = long | UInt64(index + 1) << 32 | UInt64(UInt32(bitPattern: e.value))
                var slot = Int(h) & mask
                while true {
                    let occupant = slots[slot]
                    if occupant.y == 0 {
                        slots[slot] = SIMD2(w, meta)
                        break
                    }
                    if occupant.x == w, occupant.y & Self.longFlag == long,
                       long == 0 || equal(Int((occupant.y >> 32) & 0x7FFF_FFFF) - 1, key, arena)
                    {
                        slots[slot] = SIMD2(w, meta)  // duplicate key: the last one wins
                        break
                    }
                    slot = (slot + 1) & mask
                }
            }
        }
        self.slots = slots
    }

    private func equal(_ entry: Int, _ key: UnsafeRawBufferPointer, _ arena: UnsafeRawBufferPointer) -> Bool {
        let e = entries[entry]
        guard Int(e.length) == key.count else { return false }
        for k in 0..<key.count where arena[Int(e.start) + k] != key[k] { return false }
        return true
    }

    /// The value for a key, or -1.
    @inline(__always)
    func lookup(_ key: UnsafeRawBufferPointer) -> Int32 {
        let prefix = Self.prefix(key)
        let h = Self.hash(key, prefix: prefix)
        let w = Self.word(prefix, count: key.count)
        return slots.withUnsafeBufferPointer { slots in
            var slot = Int(h) & mask
            if key.count < 8 {
                while true {
                    let occupant = slots[slot]
                    if occupant.y == 0 { return -1 }
                    if occupant.x == w, occupant.y & Self.longFlag == 0 {
                        return Int32(truncatingIfNeeded: occupant.y)
                    }
                    slot = (slot + 1) & mask
                }
            }
            while true {
                let occupant = slots[slot]
                if occupant.y == 0 { return -1 }
                if occupant.x == w, occupant.y & Self.longFlag != 0 {
                    let e = entries[Int((occupant.y >> 32) & 0x7FFF_FFFF) - 1]
                    if Int(e.length) == key.count, tailEqual(e, key) { return e.value }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    private func tailEqual(_ e: Entry, _ key: UnsafeRawBufferPointer) -> Bool {
        arena.withUnsafeBufferPointer { arena in
            var k = 8
            while k < key.count {
                if arena[Int(e.start) + k] != key[k] { return false }
                k += 1
            }
            return true
        }
    }

    func lookup(_ key: [UInt8]) -> Int32 {
        key.withUnsafeBytes { lookup($0) }
    }
}
