/// Where a loaded model's packed weights came from: reported by `DuoGuardModel.packedWeights`
/// so the worker and the command-line tool can log it (the library itself does not log).
public enum PackedWeightsOrigin: Sendable, Equatable, CustomStringConvertible {
    /// Nothing to pack (float matrices).
    case none
    /// Packed at load into private memory, one copy per process; `reason` says why no shared
    /// file was used (not configured, missing, stale, directory not writable...).
    case privateMemory(reason: String)
    /// Mapped read-only from a file that matched (shared with every process mapping it).
    case mappedFile(path: String)
    /// Built at load into the packed-weights directory (it was missing or `replaced` says why
    /// it did not match), then mapped like any other.
    case builtFile(path: String, replaced: String)

    /// Whether the packed weights are shared through the page cache.
    public var isShared: Bool {
        switch self {
        case .mappedFile, .builtFile: true
        case .none, .privateMemory: false
        }
    }

    public var description: String {
        switch self {
        case .none: "none (float model)"
        case .privateMemory(let reason): "private memory (\(reason))"
        case .mappedFile(let path): "mapped from \(path)"
        case .builtFile(let path, let replaced): "built \(path) (\(replaced)) and mapped it"
        }
    }
}
