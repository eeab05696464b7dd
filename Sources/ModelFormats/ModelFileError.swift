/// Why a model file or model directory could not be read, converted or written.
///
/// Every case names the file (or tensor, or key) and the problem, so an operator can act
/// on the message alone; the command-line tool prints `description` and exits non-zero.
public enum ModelFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path does not exist.
    case fileNotFound(path: String)
    /// The file exists but could not be opened or mapped.
    case unreadable(path: String, reason: String)
    /// The file ends before the data its header announces.
    case truncated(path: String, detail: String)
    /// The first four bytes are not `GGUF`.
    case badMagic(path: String)
    /// A GGUF version other than 3 (or 2, which has the same layout).
    case unsupportedVersion(path: String, version: UInt32)
    /// The header is structurally invalid (bad lengths, offsets, value types, JSON).
    case corrupt(path: String, detail: String)
    /// The model is not a Llama sequence classifier this engine computes.
    case unsupportedArchitecture(String)
    /// A tensor is stored in a type this engine cannot compute with.
    case unsupportedTensorType(tensor: String, type: String)
    /// A tensor the model needs is absent.
    case missingTensor(String)
    /// A tensor's shape disagrees with the hyperparameters.
    case shapeMismatch(tensor: String, expected: [Int], found: [Int])
    /// A metadata key the model needs is absent.
    case missingMetadata(key: String)
    /// A metadata key has the wrong type or an impossible value.
    case invalidMetadata(key: String, detail: String)
    /// `config.json` is missing a field or has an impossible value.
    case badConfig(path: String, detail: String)
    /// Writing the output file failed.
    case writeFailed(path: String, reason: String)
    /// The content hash stored in the file does not match its tensor data.
    case contentHashMismatch(expected: String, found: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "model file not found: \(path)"
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .truncated(let path, let detail): "\(path) is truncated: \(detail)"
        case .badMagic(let path): "\(path) is not a GGUF file (bad magic)"
        case .unsupportedVersion(let path, let version): "\(path): unsupported GGUF version \(version) (expected 3)"
        case .corrupt(let path, let detail): "\(path) is corrupt: \(detail)"
        case .unsupportedArchitecture(let arch): "unsupported model architecture: \(arch)"
        case .unsupportedTensorType(let tensor, let type): "tensor \(tensor) has unsupported type \(type)"
        case .missingTensor(let name): "missing tensor \(name)"
        case .shapeMismatch(let tensor, let expected, let found):
            "tensor \(tensor) has shape \(found), expected \(expected)"
        case .missingMetadata(let key): "missing metadata key \(key)"
        case .invalidMetadata(let key, let detail): "invalid metadata \(key): \(detail)"
        case .badConfig(let path, let detail): "bad model config \(path): \(detail)"
        case .writeFailed(let path, let reason): "cannot write \(path): \(reason)"
        case .contentHashMismatch(let expected, let found):
            "content hash mismatch: header says \(expected), tensor data hashes to \(found)"
        }
    }
}
