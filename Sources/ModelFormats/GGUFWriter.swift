#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a GGUF v3 file: header (metadata + tensor table), then each tensor's data,
/// aligned to `alignment`, streamed one tensor at a time so that converting the 1B model
/// never holds more than one converted tensor in memory.
///
/// The content hash (SHA-256 over the tensor data, in table order) can only be known after
/// the data is written, so its metadata string is written as a fixed-length placeholder and
/// patched in place at the end.
struct GGUFWriter {
    struct Tensor {
        var name: String
        /// ggml order (row length first).
        var dimensions: [Int]
        var type: TensorType
        var byteCount: Int { type.rowSize(dimensions[0]) * dimensions.dropFirst().reduce(1, *) }
    }

    var metadata: [(key: String, value: GGUFValue)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    /// Metadata key whose string value is replaced by `sha256:<hex>` of the tensor data.
    var contentHashKey: String?

    static let hashPlaceholder = "sha256:" + String(repeating: "0", count: 64)

    mutating func add(_ key: String, _ value: GGUFValue) {
        metadata.append((key, value))
    }

    /// Writes the file; `produce(i)` returns the bytes of tensor `i` (exactly its byte count).
    /// Returns the content hash.
    func write(
        to path: String,
        produce: (Int) throws(ModelFileError) -> [UInt8],
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws(ModelFileError) -> String {
        var header: [UInt8] = []
        var hashValueOffset: Int?
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            header.append(contentsOf: s.utf8)
        }
        func value(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): header.append(x)
            case .int8(let x): header.append(UInt8(bitPattern: x))
            case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { header.append(contentsOf: $0) }
            case .int16(let x): withUnsafeBytes(of: x.littleEndian) { header.append(contentsOf: $0) }
            case .uint32(let x): u32(x)
            case .int32(let x): u32(UInt32(bitPattern: x))
            case .float32(let x): u32(x.bitPattern)
            case .bool(let x): header.append(x ? 1 : 0)
            case .string(let s): string(s)
            case .array(let elementType, let values):
                u32(elementType)
                u64(UInt64(values.count))
                for item in values { value(item) }
            case .uint64(let x): u64(x)
            case .int64(let x): u64(UInt64(bitPattern: x))
            case .float64(let x): u64(x.bitPattern)
            }
        }

        u32(GGUFFile.magic)
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, v) in metadata {
            string(key)
            u32(v.typeCode)
            if key == contentHashKey {
                hashValueOffset = header.count + 8
                string(GGUFWriter.hashPlaceholder)
            } else {
                value(v)
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            string(t.name)
            u32(UInt32(t.dimensions.count))
            for d in t.dimensions { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(offset))
            offsets.append(offset)
            offset = (offset + t.byteCount + alignment - 1) / alignment * alignment
        }
        let padding = (alignment - header.count % alignment) % alignment
        header.append(contentsOf: [UInt8](repeating: 0, count: padding))

        guard let file = fopen(path, "wb") else {
            throw .writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        var closed = false
        defer { if !closed { fclose(file) } }
        func put(_ bytes: [UInt8]) throws(ModelFileError) {
            let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            guard written == bytes.count else {
                throw .writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
        }
        try put(header)
        var hasher = ContentHasher()
        for (i, t) in tensors.enumerated() {
            let bytes = try produce(i)
            guard bytes.count == t.byteCount else {
                throw .writeFailed(path: path, reason: "tensor \(t.name): \(bytes.count) bytes, expected \(t.byteCount)")
            }
            hasher.update(bytes)
            try put(bytes)
            let pad = (alignment - t.byteCount % alignment) % alignment
            if pad > 0 { try put([UInt8](repeating: 0, count: pad)) }
            progress(i + 1, tensors.count)
        }
        let hash = hasher.finalize()
        if let at = hashValueOffset {
            guard fseek(file, at, SEEK_SET) == 0 else {
                throw .writeFailed(path: path, reason: "cannot seek to patch the content hash")
            }
            try put(Array(hash.utf8))
        }
        closed = true
        guard fclose(file) == 0 else { throw .writeFailed(path: path, reason: String(cString: strerror(errno))) }
        return hash
    }
}
