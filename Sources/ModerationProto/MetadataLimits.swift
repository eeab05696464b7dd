/// Bounds of a request's `metadata` map, which is copied into its result.
///
/// Without them a 1 MB request holds ~75,000 tiny entries, which decode to a dictionary
/// several times its wire size and are copied into the result again: the in-flight budget
/// counts wire bytes, so 64 MiB of it would admit many times that in memory. Within these
/// bounds a request's decoded metadata is at most `maxTotalBytes` of strings plus
/// `maxEntries` dictionary slots, a small constant next to the record itself. A request
/// beyond them is INVALID_ARGUMENT (`METADATA_TOO_LARGE`).
public struct MetadataLimits: Sendable, Equatable {
    /// Entries in the map. Default: 64.
    public var maxEntries: Int
    /// UTF-8 bytes of one key. Default: 256.
    public var maxKeyBytes: Int
    /// UTF-8 bytes of one value. Default: 4,096.
    public var maxValueBytes: Int
    /// UTF-8 bytes of all keys and values together. Default: 16 KiB.
    public var maxTotalBytes: Int

    public init(maxEntries: Int = 64, maxKeyBytes: Int = 256, maxValueBytes: Int = 4_096, maxTotalBytes: Int = 16_384) {
        self.maxEntries = maxEntries
        self.maxKeyBytes = maxKeyBytes
        self.maxValueBytes = maxValueBytes
        self.maxTotalBytes = maxTotalBytes
    }

    /// What is beyond the limits in `metadata`, `nil` when nothing is.
    public func problem(with metadata: [String: String]) -> String? {
        if metadata.count > maxEntries { return "\(metadata.count) entries, limit is \(maxEntries)" }
        var total = 0
        for (key, value) in metadata {
            let keyBytes = key.utf8.count
            let valueBytes = value.utf8.count
            if keyBytes > maxKeyBytes { return "a key of \(keyBytes) bytes, limit is \(maxKeyBytes)" }
            if valueBytes > maxValueBytes { return "the value of '\(key.prefix(64))' is \(valueBytes) bytes, limit is \(maxValueBytes)" }
            total += keyBytes + valueBytes
        }
        if total > maxTotalBytes { return "\(total) bytes of keys and values, limit is \(maxTotalBytes)" }
        return nil
    }

    /// Bytes `metadata` holds once decoded: its strings plus a fixed cost per entry (a
    /// dictionary slot and two string headers), what the in-flight budget charges for it.
    public static func decodedBytes(of metadata: [String: String]) -> Int {
        metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 64 }
    }
}
