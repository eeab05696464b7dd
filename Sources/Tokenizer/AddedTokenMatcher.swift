/// Finds added tokens (e.g. `<|end_of_text|>`) written literally in the input, which the
/// reference turns into their ids before pre-tokenization (leftmost match first, the longest
/// token when several start at the same place).
///
/// A byte trie: a first-byte filter rejects almost every position with one table read, so text
/// without `<` pays nothing.
struct AddedTokenMatcher: Sendable {
    private var firstByte = [Bool](repeating: false, count: 256)
    /// Trie edges keyed by (node << 8 | byte); 64-bit so that no node number (one per byte
    /// of added-token text) can spill into another's key.
    private var edges: [UInt64: Int32] = [:]
    /// Token id at each node, or -1.
    private var terminal: [Int32] = [-1]

    var isEmpty: Bool { terminal.count == 1 }

    init(tokens: [(content: [UInt8], id: Int32)]) {
        for token in tokens where !token.content.isEmpty {
            firstByte[Int(token.content[0])] = true
            var node: Int32 = 0
            for b in token.content {
                let key = UInt64(node) << 8 | UInt64(b)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(terminal.count)
                    terminal.append(-1)
                    edges[key] = child
                    node = child
                }
            }
            terminal[Int(node)] = token.id
        }
    }

    /// The id and byte length of the longest added token starting at `i`, if any.
    @inline(__always)
    func match(_ p: UnsafeBufferPointer<UInt8>, at i: Int) -> (id: Int32, length: Int)? {
        guard firstByte[Int(p[i])] else { return nil }
        var node: Int32 = 0
        var best: (id: Int32, length: Int)?
        var j = i
        while j < p.count, let child = edges[UInt64(node) << 8 | UInt64(p[j])] {
            node = child
            j += 1
            let id = terminal[Int(node)]
            if id >= 0 { best = (id, j - i) }
        }
        return best
    }
}
