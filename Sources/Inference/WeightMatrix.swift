import CKernels

/// A `rows x cols` weight matrix in ggml layout (each row of `cols` values contiguous, in
/// `type`), pointing into the memory-mapped model file. Owned by `ModelWeights`, which keeps
/// the mapping alive.
///
/// Q8_0/Q4_0 matrices also get `packed`: the same weights repacked at load into the panel
/// layout the SIMD kernels read (`ck_pack_weights`, owned by `PackedWeights`). Once packed,
/// the ggml bytes are no longer read by the forward pass (their pages are given back).
struct WeightMatrix: @unchecked Sendable {
    let type: TensorType
    let data: UnsafeRawPointer
    let rows: Int
    let cols: Int
    /// The kernel-layout copy, or nil (float types, or packing was not possible).
    var packed: UnsafeRawPointer? = nil
    /// The type of `packed` when it is not `type` (CK_TYPE_Q8_R: requantized at load).
    var packedType: ck_type? = nil

    /// The type the kernels multiply (and prepare activations for).
    var kernelType: ck_type { packed != nil ? packedType ?? type.ckType : type.ckType }

    var rowBytes: Int { type.rowSize(cols) }

    /// Bytes of the packed copy as `target` (default: as stored); 0 for types the kernels do not pack.
    func packedBytes(as target: ck_type? = nil) -> Int {
        ck_packed_size(target ?? type.ckType, Int64(rows), Int64(cols))
    }
}
