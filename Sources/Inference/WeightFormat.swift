import CKernels

/// How the matrix weights are held in memory for the kernels (`ModelOptions.weightFormat`).
///
/// Why a load-time choice: the Q8_0/Q4_0 file formats scale every 32-block of every row in
/// floating point, which caps the VNNI kernels at ~70% of the CPU's int8 rate. `.q8Row`
/// requantizes each layer matrix at load to int8 with one scale per row (from whatever the
/// file stores: f32/f16/bf16 best, Q8_0 adds a second rounding) and quantizes activations
/// with one scale per 128 (`CK_TYPE_Q8_R`, docs/kernels.md): the kernels then keep 128
/// products in int32 and run near the int8 limit. The file stays ggml-compatible.
public enum WeightFormat: String, Sendable, CaseIterable {
    /// The file's own blocks, repacked losslessly (Q8_0/Q4_0), or float as stored.
    case stored
    /// Per-row int8 weights, activations per 128 (`CK_TYPE_Q8_R`).
    case q8Row = "q8_r"

    /// The kernels' packed type for a matrix stored as `type` with rows of `cols`, or nil to
    /// pack it as stored.
    func packedType(for type: TensorType, cols: Int) -> UInt32? {
        switch self {
        case .stored: return nil
        case .q8Row: return cols % Int(CK_Q8R_GROUP) == 0 ? CK_TYPE_Q8_R.rawValue : nil
        }
    }
}
