import CKernels
import Foundation
import JSONScanning

/// One `.safetensors` file, memory-mapped: an 8-byte little-endian header length, a JSON
/// header (`name: {dtype, shape, data_offsets}`), then the raw tensor bytes.
///
/// Only the header is parsed eagerly; tensor data is converted to f32 one tensor at a time
/// during conversion, so converting the 1B model never holds more than one tensor in f32.
final class SafeTensorsFile: @unchecked Sendable {
    struct Entry: Sendable {
        var dtype: String
        var shape: [Int]
        /// Product of `shape`, checked against the byte range when the file is opened.
        var count: Int
        var begin: Int
        var end: Int
    }

    /// The format's own limit on the JSON header (the reference implementation refuses more).
    static let maxHeaderLength = 100_000_000

    let path: String
    private let file: MappedFile
    private let dataStart: Int
    let entries: [String: Entry]

    /// Bytes per element of the dtypes the format defines; others are kept unchecked and
    /// refused when read.
    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": 8
        case "F32", "I32", "U32": 4
        case "F16", "BF16", "I16", "U16": 2
        case "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2": 1
        default: nil
        }
    }

    init(path: String) throws(ModelFileError) {
        self.path = path
        file = try MappedFile(path: path)
        guard file.count >= 8 else { throw .truncated(path: path, detail: "no header length") }
        // Compared as UInt64: a length of 2^63 or more must not go through Int(_:).
        let rawLength = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard rawLength > 0, rawLength <= UInt64(file.count - 8) else {
            throw .truncated(path: path, detail: "header of \(rawLength) bytes in a \(file.count)-byte file")
        }
        guard rawLength <= UInt64(Self.maxHeaderLength) else {
            throw .corrupt(path: path, detail: "header of \(rawLength) bytes, more than the format's \(Self.maxHeaderLength)")
        }
        let headerLength = Int(rawLength)
        dataStart = 8 + headerLength
        let header = UnsafeRawBufferPointer(start: file.base + 8, count: headerLength).bindMemory(to: UInt8.self)
        guard let json = (try? JSONValue(parsing: header))?.object else {
            throw .corrupt(path: path, detail: "the safetensors header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        let available = file.count - dataStart
        for (name, value) in json where name != "__metadata__" {
            guard let dtype = value["dtype"]?.string,
                  let shape = value["shape"]?.ints,
                  let offsets = value["data_offsets"]?.ints, offsets.count == 2
            else { throw .corrupt(path: path, detail: "bad header entry for \(name) (dtype, integer shape and two integer data_offsets needed)") }
            guard offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw .corrupt(path: path, detail: "bad data offsets \(offsets) for \(name)")
            }
            guard offsets[1] <= available else {
                throw .truncated(path: path, detail: "tensor \(name) ends at \(offsets[1]), data has \(available) bytes")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else { throw .corrupt(path: path, detail: "negative shape \(shape) for \(name)") }
            var count = 1
            for d in shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw .corrupt(path: path, detail: "tensor \(name): shape \(shape) is impossibly large") }
                count = p
            }
            if let size = Self.elementSize(dtype) {
                let (bytes, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow, bytes == offsets[1] - offsets[0] else {
                    throw .corrupt(path: path, detail: "tensor \(name): \(offsets[1] - offsets[0]) bytes for shape \(shape) \(dtype)")
                }
            }
            entries[name] = Entry(dtype: dtype, shape: shape, count: count, begin: offsets[0], end: offsets[1])
        }
        self.entries = entries
    }

    /// The tensor converted to f32 (row-major, as stored).
    func floats(_ name: String) throws(ModelFileError) -> [Float] {
        guard let entry = entries[name] else { throw .missingTensor(name) }
        let count = entry.count
        switch entry.dtype {
        case "F32", "F16", "BF16": break // byte count checked against the shape at open
        default: throw .unsupportedTensorType(tensor: name, type: entry.dtype)
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
