/// Activation buffers of one forward pass, allocated once for the batch token budget so
/// that classifying never allocates per batch.
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
    private var all: [UnsafeMutablePointer<Float>] = []

    init(config: ModelConfig, capacity: Int) {
        self.capacity = capacity
        var all: [UnsafeMutablePointer<Float>] = []
        func make(_ width: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, capacity * width))
            p.initialize(repeating: 0, count: max(1, capacity * width))
            all.append(p)
            return p
        }
        x = make(config.hiddenSize)
        xn = make(config.hiddenSize)
        q = make(config.qDim)
        k = make(config.kvDim)
        v = make(config.kvDim)
        attention = make(config.qDim)
        projected = make(config.hiddenSize)
        gate = make(config.intermediateSize)
        up = make(config.intermediateSize)
        logits = make(config.labelCount)
        self.all = all
    }

    deinit {
        for p in all { p.deallocate() }
    }
}
