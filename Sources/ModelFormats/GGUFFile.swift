/// A GGUF (v3) file, memory-mapped: metadata, the tensor table, and views of tensor data
/// directly in the mapping (no copy).
///
/// Every length, offset and count in the header is checked against the file size before it
/// is used, every sum and product of them is overflow-checked, and the parsed metadata is
/// capped (`maxMetadataItems`), so a truncated, corrupt or crafted file is an error naming
/// the key or tensor and the problem, never a crash or an allocation the file cannot back.
public final class GGUFFile: @unchecked Sendable {
    /// One entry of the tensor table.
    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        /// ggml order: `dimensions[0]` is the contiguous (row) length.
        public var dimensions: [Int]
        public var type: TensorType
        /// Offset from the start of the file.
        public var fileOffset: Int
        public var byteCount: Int
        public var elementCount: Int { dimensions.reduce(1, *) }
    }

    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    public let tensors: [TensorInfo]
    public let alignment: Int
    /// Offset of the tensor data section.
    public let dataOffset: Int
    private let file: MappedFile
    private let metadataIndex: [String: Int]
    private let tensorIndex: [String: Int]

    static let magic: UInt32 = 0x4655_4747 // "GGUF" little-endian

    /// The largest `general.alignment` accepted (ggml writes 32; page alignment is 4096).
    public static let maxAlignment = 1 << 16

    /// The most metadata values (array elements included) one file may hold: 4,194,304.
    /// A Llama-3 vocabulary is about 540 k (128 k tokens and token types, 280 k merges); the
    /// cap keeps the parsed metadata (24 bytes a value) near 100 MB whatever the file claims.
    public static let maxMetadataItems = 1 << 22

    public init(path: String) throws(ModelFileError) {
        self.path = path
        file = try MappedFile(path: path)
        var reader = Reader(base: file.base, count: file.count, path: path)
        guard file.count >= 4 else { throw .truncated(path: path, detail: "shorter than the GGUF magic") }
        guard try reader.u32() == GGUFFile.magic else { throw .badMagic(path: path) }
        version = try reader.u32()
        guard version == 3 || version == 2 else { throw .unsupportedVersion(path: path, version: version) }
        let tensorCount = try reader.u64()
        let kvCount = try reader.u64()
        // Each entry needs several bytes; a larger count can only be corruption.
        guard tensorCount < UInt64(file.count), kvCount < UInt64(file.count) else {
            throw .corrupt(path: path, detail: "implausible counts (\(tensorCount) tensors, \(kvCount) keys)")
        }
        var metadata: [(key: String, value: GGUFValue)] = []
        var metadataIndex: [String: Int] = [:]
        for _ in 0 ..< Int(kvCount) {
            let key = try reader.string()
            let type = try reader.u32()
            let value = try reader.value(type: type, key: key, depth: 0)
            guard metadataIndex[key] == nil else { throw .corrupt(path: path, detail: "duplicate metadata key \(key)") }
            metadataIndex[key] = metadata.count
            metadata.append((key, value))
        }
        var alignment = 32
        if let index = metadataIndex["general.alignment"] {
            guard let a = metadata[index].value.intValue, a > 0, a <= GGUFFile.maxAlignment, a & (a - 1) == 0 else {
                throw .corrupt(path: path, detail: "general.alignment must be a power of two up to \(GGUFFile.maxAlignment), found \(metadata[index].value)")
            }
            alignment = a
        }
        var infos: [(name: String, dims: [Int], type: UInt32, offset: UInt64)] = []
        for _ in 0 ..< Int(tensorCount) {
            let name = try reader.string()
            let nDims = try reader.u32()
            guard nDims >= 1, nDims <= 4 else { throw .corrupt(path: path, detail: "tensor \(name) has \(nDims) dimensions") }
            var dims: [Int] = []
            for _ in 0 ..< nDims {
                let d = try reader.u64()
                guard d > 0, d < 1 << 40 else { throw .corrupt(path: path, detail: "tensor \(name) has dimension \(d)") }
                dims.append(Int(d))
            }
            let type = try reader.u32()
            let offset = try reader.u64()
            infos.append((name, dims, type, offset))
        }
        // alignment <= 64 KiB and offset <= file size: no overflow.
        let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        var tensors: [TensorInfo] = []
        var tensorIndex: [String: Int] = [:]
        for info in infos {
            guard let type = TensorType(rawValue: info.type) else {
                throw .unsupportedTensorType(tensor: info.name, type: "ggml type \(info.type)")
            }
            guard info.dims[0] % type.blockSize == 0 else {
                throw .corrupt(path: path, detail: "tensor \(info.name): row length \(info.dims[0]) is not a multiple of \(type.blockSize)")
            }
            // Every product and sum below is checked: each factor passed its own bound, but
            // together they can pass Int.max.
            let (elements, overflow) = info.dims.dropFirst().reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (bytes, overflow2) = type.rowSize(info.dims[0]).multipliedReportingOverflow(by: elements)
            guard !overflow, !overflow2 else {
                throw .corrupt(path: path, detail: "tensor \(info.name) is impossibly large (dimensions \(info.dims))")
            }
            // ggml requires it, and the kernels read blocks in place.
            guard info.offset % UInt64(alignment) == 0 else {
                throw .corrupt(path: path, detail: "tensor \(info.name) at data offset \(info.offset), not a multiple of the alignment \(alignment)")
            }
            guard dataOffset <= file.count, info.offset <= UInt64(file.count - dataOffset),
                  bytes <= file.count - dataOffset - Int(info.offset)
            else {
                throw .truncated(path: path, detail: "tensor \(info.name) needs \(bytes) bytes at data offset \(info.offset), the file has \(file.count) bytes with data from \(dataOffset)")
            }
            let start = dataOffset + Int(info.offset)
            guard tensorIndex[info.name] == nil else { throw .corrupt(path: path, detail: "duplicate tensor \(info.name)") }
            tensorIndex[info.name] = tensors.count
            tensors.append(TensorInfo(name: info.name, dimensions: info.dims, type: type, fileOffset: start, byteCount: bytes))
        }
        self.metadata = metadata
        self.metadataIndex = metadataIndex
        self.alignment = alignment
        self.dataOffset = dataOffset
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    public subscript(key: String) -> GGUFValue? {
        metadataIndex[key].map { metadata[$0].value }
    }

    public func tensor(_ name: String) -> TensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor's bytes inside the mapping; valid while this object lives.
    package func data(_ info: TensorInfo) -> UnsafeRawPointer {
        file.base + info.fileOffset
    }

    /// The raw bytes of a tensor (copied), e.g. for tests and hashing.
    public func bytes(of name: String) -> [UInt8]? {
        guard let info = tensor(name) else { return nil }
        return [UInt8](UnsafeRawBufferPointer(start: data(info), count: info.byteCount))
    }

    /// SHA-256 over all tensor data in table order (the `duoguard.content_hash` definition).
    public func computeContentHash() -> String {
        var hasher = ContentHasher()
        for info in tensors {
            hasher.update(UnsafeRawBufferPointer(start: data(info), count: info.byteCount))
        }
        return hasher.finalize()
    }

    /// Bounds-checked little-endian cursor over the mapped header.
    private struct Reader {
        let base: UnsafeRawPointer
        let count: Int
        let path: String
        var offset = 0

        mutating func take(_ n: Int) throws(ModelFileError) -> UnsafeRawPointer {
            guard n >= 0, n <= count - offset else {
                throw .truncated(path: path, detail: "header ends at byte \(offset), \(n) more bytes needed")
            }
            defer { offset += n }
            return base + offset
        }

        mutating func u8() throws(ModelFileError) -> UInt8 { try take(1).load(as: UInt8.self) }
        mutating func u16() throws(ModelFileError) -> UInt16 { UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self)) }
        mutating func u32() throws(ModelFileError) -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
        mutating func u64() throws(ModelFileError) -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }

        mutating func string() throws(ModelFileError) -> String {
            let length = try u64()
            guard length <= UInt64(count - offset) else {
                throw .truncated(path: path, detail: "string of \(length) bytes at byte \(offset)")
            }
            let p = try take(Int(length))
            return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(length)), as: UTF8.self)
        }

        /// Metadata values read so far, against `GGUFFile.maxMetadataItems`.
        var items = 0

        /// The fewest bytes one value of a type takes in the file (0 for an unknown type).
        static func minimumSize(of type: UInt32) -> Int {
            switch type {
            case 0, 1, 7: 1
            case 2, 3: 2
            case 4, 5, 6: 4
            case 8, 10, 11, 12: 8 // a string is at least its 8-byte length
            case 9: 12 // element type and count
            default: 0
            }
        }

        /// Reads one value of `type` for metadata `key` (named in every error).
        mutating func value(type: UInt32, key: String, depth: Int) throws(ModelFileError) -> GGUFValue {
            items += 1
            guard items <= GGUFFile.maxMetadataItems else {
                throw .corrupt(path: path, detail: "more than \(GGUFFile.maxMetadataItems) metadata values (at \(key))")
            }
            switch type {
            case 0: return .uint8(try u8())
            case 1: return .int8(Int8(bitPattern: try u8()))
            case 2: return .uint16(try u16())
            case 3: return .int16(Int16(bitPattern: try u16()))
            case 4: return .uint32(try u32())
            case 5: return .int32(Int32(bitPattern: try u32()))
            case 6: return .float32(Float(bitPattern: try u32()))
            case 7:
                let b = try u8()
                guard b <= 1 else { throw .corrupt(path: path, detail: "\(key): bool value \(b) at byte \(offset - 1)") }
                return .bool(b == 1)
            case 8: return .string(try string())
            case 9:
                guard depth == 0 else { throw .corrupt(path: path, detail: "\(key): nested arrays are not supported") }
                let elementType = try u32()
                let n = try u64()
                let size = Reader.minimumSize(of: elementType)
                guard size > 0, elementType != 9 else {
                    throw .corrupt(path: path, detail: "\(key): unknown array element type \(elementType)")
                }
                // Checked before anything is reserved: the file must hold n elements.
                guard n <= UInt64((count - offset) / size) else {
                    throw .truncated(path: path, detail: "\(key): array of \(n) items at byte \(offset), room for at most \((count - offset) / size)")
                }
                guard n <= UInt64(GGUFFile.maxMetadataItems - items) else {
                    throw .corrupt(path: path, detail: "\(key): array of \(n) items, more than \(GGUFFile.maxMetadataItems) metadata values in all")
                }
                var values: [GGUFValue] = []
                values.reserveCapacity(Int(n))
                for _ in 0 ..< Int(n) { values.append(try value(type: elementType, key: key, depth: depth + 1)) }
                return .array(elementType: elementType, values)
            case 10: return .uint64(try u64())
            case 11: return .int64(Int64(bitPattern: try u64()))
            case 12: return .float64(Double(bitPattern: try u64()))
            default:
                throw .corrupt(path: path, detail: "\(key): unknown metadata value type \(type) at byte \(offset - 4)")
            }
        }
    }
}
