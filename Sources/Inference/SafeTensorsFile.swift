import CKernels
import Foundation

/// One `.safetensors` file, memory-mapped: an 8-byte little-endian header length, a JSON
/// header (`name: {dtype, shape, data_offsets}`), then the raw tensor bytes.
///
/// Only the header is parsed eagerly; tensor data is converted to f32 one tensor at a time
/// during conversion, so converting the 1B model never holds more than one tensor in f32.
final class SafeTensorsFile: @unchecked Sendable {
    struct Entry: Sendable {
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    let path: String
    private let file: MappedFile
    private let dataStart: Int
    let entries: [String: Entry]

    init(path: String) throws(ModelFileError) {
        self.path = path
        file = try MappedFile(path: path)
        guard file.count >= 8 else { throw .truncated(path: path, detail: "no header length") }
        let headerLength = Int(file.base.loadUnaligned(as: UInt64.self).littleEndian)
        guard headerLength > 0, headerLength <= file.count - 8 else {
            throw .truncated(path: path, detail: "header of \(headerLength) bytes in a \(file.count)-byte file")
        }
        dataStart = 8 + headerLength
        let header = Data(bytes: file.base + 8, count: headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: header), let json = object as? [String: Any] else {
            throw .corrupt(path: path, detail: "the safetensors header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        let available = file.count - dataStart
        for (name, value) in json where name != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shape = (info["shape"] as? [NSNumber])?.map(\.intValue),
                  let offsets = (info["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2
            else { throw .corrupt(path: path, detail: "bad header entry for \(name)") }
            guard offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw .corrupt(path: path, detail: "bad data offsets for \(name)")
            }
            guard offsets[1] <= available else {
                throw .truncated(path: path, detail: "tensor \(name) ends at \(offsets[1]), data has \(available) bytes")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw .corrupt(path: path, detail: "negative shape for \(name)") }
            entries[name] = Entry(dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
        }
        self.entries = entries
    }

    /// The tensor converted to f32 (row-major, as stored).
    func floats(_ name: String) throws(ModelFileError) -> [Float] {
        guard let entry = entries[name] else { throw .missingTensor(name) }
        let count = entry.shape.reduce(1, *)
        let elementSize: Int
        switch entry.dtype {
        case "F32": elementSize = 4
        case "F16", "BF16": elementSize = 2
        default: throw .unsupportedTensorType(tensor: name, type: entry.dtype)
        }
        guard entry.end - entry.begin == count * elementSize else {
            throw .corrupt(path: path, detail: "tensor \(name): \(entry.end - entry.begin) bytes for shape \(entry.shape) \(entry.dtype)")
        }
        let source = file.base + dataStart + entry.begin
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            switch entry.dtype {
            case "F32":
                for i in 0 ..< count {
                    out[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            case "BF16":
                for i in 0 ..< count {
                    let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    out[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            default:
                for i in 0 ..< count {
                    out[i] = ck_fp16_to_fp32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            }
            initialized = count
        }
    }
}
