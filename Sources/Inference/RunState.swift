#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Activation buffers of one forward pass, allocated once for the batch token budget so
/// that classifying never allocates per batch.
///
/// The buffers live in one anonymous mapping, whose pages the kernel supplies (zeroed) on
/// first touch: a 2048-token budget reserves ~220 MB for the 1B model, but a process that
/// only ever sees short batches (a worker on short texts, `duoguard classify` on a few
/// lines) never touches, clears or keeps most of it.
final class RunState: @unchecked Sendable {
    let capacity: Int
    /// Residual stream, `capacity x hidden`.
    let x: UnsafeMutablePointer<Float>
    /// Normed residual, `capacity x hidden`.
    let xn: UnsafeMutablePointer<Float>
    let q: UnsafeMutablePointer<Float>
    let k: UnsafeMutablePointer<Float>
    let v: UnsafeMutablePointer<Float>
    /// Attention output (all heads), `capacity x qDim`.
    let attention: UnsafeMutablePointer<Float>
    /// Projection output before the residual add, `capacity x hidden`.
    let projected: UnsafeMutablePointer<Float>
    let gate: UnsafeMutablePointer<Float>
    let up: UnsafeMutablePointer<Float>
    /// Logits of the pooled tokens, `capacity x labels`.
    let logits: UnsafeMutablePointer<Float>
    private let base: UnsafeMutableRawPointer
    private let byteCount: Int
    private let mapped: Bool

    init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        let widths = [config.hiddenSize, config.hiddenSize, config.qDim, config.kvDim, config.kvDim,
                      config.qDim, config.hiddenSize, config.intermediateSize, config.intermediateSize, config.labelCount]
        // Each buffer starts on a page boundary (the config was validated, so no overflow).
        let sizes = widths.map { max(1, capacity * $0) * MemoryLayout<Float>.stride }.map { AnonymousMemory.roundedUp($0) ?? $0 }
        let total = sizes.reduce(0, +)
        if let p = AnonymousMemory.map(total, hugePages: false) {
            base = p
            mapped = true
        } else {
            base = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: AnonymousMemory.alignment)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: total)
            mapped = false
        }
        byteCount = total
        var offset = 0
        var buffers: [UnsafeMutablePointer<Float>] = []
        for (size, width) in zip(sizes, widths) {
            buffers.append((base + offset).bindMemory(to: Float.self, capacity: max(1, capacity * width)))
            offset += size
        }
        (x, xn, q, k, v) = (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4])
        (attention, projected, gate, up, logits) = (buffers[5], buffers[6], buffers[7], buffers[8], buffers[9])
    }

    deinit {
        if mapped {
            munmap(base, byteCount)
        } else {
            base.deallocate()
        }
    }
}
