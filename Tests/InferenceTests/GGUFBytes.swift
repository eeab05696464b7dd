import Foundation
@testable import ModelFormats

/// GGUF bytes written field by field, so that a test can state any header, valid or not
/// (`GGUFWriter` only writes well-formed files).
struct GGUFBytes {
    var bytes: [UInt8] = []

    /// Magic, version and the two counts.
    init(version: UInt32 = 3, tensorCount: UInt64, keyCount: UInt64) {
        u32(0x4655_4747)
        u32(version)
        u64(tensorCount)
        u64(keyCount)
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    /// A metadata key and its value type code; the caller writes the value.
    mutating func key(_ name: String, type: UInt32) {
        string(name)
        u32(type)
    }

    /// One tensor-table entry.
    mutating func tensor(_ name: String, dimensions: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dimensions.count))
        for d in dimensions { u64(d) }
        u32(type)
        u64(offset)
    }

    /// Zero bytes up to the next multiple of `alignment` (where tensor data starts).
    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    func write(to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
