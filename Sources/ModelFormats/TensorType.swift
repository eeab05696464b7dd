import CKernels

/// Element type of a stored tensor, numbered as ggml's `ggml_type` (and so as GGUF stores it).
///
/// Q8_0 and Q4_0 blocks are bit-compatible with ggml: 32 values per block with an fp16 scale.
public enum TensorType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q8_0 = 8
    case bf16 = 30

    /// Parses the names used on the command line (`f32`, `f16`, `q8_0`, `q4_0`, `bf16`).
    public init?(name: String) {
        switch name.lowercased() {
        case "f32": self = .f32
        case "f16": self = .f16
        case "q4_0", "q4": self = .q4_0
        case "q8_0", "q8": self = .q8_0
        case "bf16": self = .bf16
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q8_0: "Q8_0"
        case .bf16: "BF16"
        }
    }

    /// Elements per block (rows of block types must be a multiple of it).
    public var blockSize: Int {
        switch self {
        case .q4_0, .q8_0: Int(CK_QK)
        default: 1
        }
    }

    /// Bytes used by `n` elements (`n` a multiple of `blockSize`).
    public func rowSize(_ n: Int) -> Int {
        switch self {
        case .f32: 4 * n
        case .f16, .bf16: 2 * n
        case .q8_0: n / 32 * 34
        case .q4_0: n / 32 * 18
        }
    }

    /// llama.cpp's `general.file_type` (`llama_ftype`) for a file whose matrices use this type.
    var llamaFileType: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q8_0: 7
        case .bf16: 32
        }
    }

    package var ckType: ck_type { ck_type(rawValue: rawValue) }
}
