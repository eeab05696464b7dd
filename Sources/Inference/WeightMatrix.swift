/// A `rows x cols` weight matrix in ggml layout (each row of `cols` values contiguous, in
/// `type`), pointing into the memory-mapped model file. Owned by `ModelWeights`, which keeps
/// the mapping alive.
struct WeightMatrix: @unchecked Sendable {
    let type: TensorType
    let data: UnsafeRawPointer
    let rows: Int
    let cols: Int

    var rowBytes: Int { type.rowSize(cols) }
}
