/// Where a model's packed weights (the Q8_0/Q4_0 matrices in the kernels' panel layout) live.
///
/// Why a file: packed into private memory, every worker process on a host holds its own copy
/// (about the model's size); mapped read-only and shared from one file, the page cache holds
/// one copy for all processes, and for all containers started from one image when the file is
/// part of the image. docs/operations.md ("Packed weights") says how to deploy it.
public enum PackedWeightsStorage: Sendable, Equatable {
    /// Pack at load into private memory; never look for a file.
    case privateMemory
    /// Map `<model file>.packed` beside the model when it exists and matches the model, the
    /// kernels and the layout; otherwise pack into private memory. Never writes anything
    /// (the file is made by `duoguard pack`). The default.
    case besideModel
    /// Map `<directory>/<model file name>.packed`; when it is missing or does not match, build
    /// it there (atomically, one process at a time) and map it. If the directory cannot be
    /// written, pack into private memory and say why (`DuoGuardModel.packedWeights`).
    case directory(String)

    /// The packed file that goes with `modelPath` under this storage (nil for private memory).
    func path(forModel modelPath: String) -> String? {
        switch self {
        case .privateMemory:
            return nil
        case .besideModel:
            return modelPath + ".packed"
        case .directory(let directory):
            let name = modelPath.split(separator: "/").last.map(String.init) ?? modelPath
            return (directory.hasSuffix("/") ? directory : directory + "/") + name + ".packed"
        }
    }

    /// Whether this storage may create or replace the file.
    var mayWrite: Bool {
        if case .directory = self { return true }
        return false
    }
}
