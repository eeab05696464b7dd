import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The packed-weights file: a model's packed matrices (opaque bytes written by
/// `ck_pack_weights`) behind a header that names exactly what they were made from, so that
/// processes on one host map one read-only copy instead of each packing its own.
///
/// Layout (little-endian; docs/operations.md, "Packed weights"):
///
///     0    8   magic "DGPACKED"
///     8    4   format version of this header (`formatVersion`)
///     12   4   packed layout version (`layoutVersion`)
///     16   8   header bytes = offset of the packed data (a multiple of 4096)
///     24   8   file bytes (header + packed data)
///     32   32  kernels the layout was packed for (`ck_kernel_name`), zero-padded
///     64   80  the model's content hash (`sha256:<hex>`, `duoguard.content_hash`), zero-padded
///     144  8   number of matrices (u32) and 4 zero bytes
///     152  40 each: stored type (u32), packed type (u32, 0 = as stored; CK_TYPE_Q8_R when
///              requantized at load), rows, cols, offset in the packed data, bytes (u64 each)
///     then 80  SHA-256 of the packed data (`sha256:<hex>`), then zeros up to the header size
///
/// The file is never parsed: a reader builds the header it expects from the model in hand
/// and compares bytes (only the data digest differs), so no size or offset in the file is
/// ever used. A mismatch names the first field that differs. The data itself is checked by
/// a few repacked panels per matrix at every load (`PackedWeights`), and by its digest when
/// the operator asks for full verification (`ModelOptions.verifyContentHash`).
struct PackedWeightsFile {
    /// Version of the packed panel layout that `ck_pack_weights` writes (ck_pack.c,
    /// docs/kernels.md). THE one place to bump when that layout changes: files written with
    /// another version are rejected (and rebuilt where allowed) instead of read wrong.
    static let layoutVersion = UInt32(CK_PACKED_LAYOUT_VERSION)
    /// Version of the header above.
    static let formatVersion: UInt32 = 1
    static let magic: [UInt8] = Array("DGPACKED".utf8)

    /// Why a file was not used.
    struct Rejected: Error, CustomStringConvertible {
        var description: String
        /// The file does not exist (the ordinary case before it is first built).
        var missing = false
    }

    /// A read-only shared mapping of a whole, checked file.
    struct Mapping {
        let base: UnsafeMutableRawPointer
        let count: Int
        let data: UnsafeRawPointer
    }

    /// One matrix of the packed data.
    struct Entry {
        var type: TensorType
        /// The ck_type the matrix was packed as when it differs from `type` (0: as stored).
        var packedType: UInt32 = 0
        var rows: Int
        var cols: Int
        var offset: Int
        var bytes: Int
    }

    let header: [UInt8]
    let headerBytes: Int
    let fileBytes: Int
    let dataBytes: Int
    private let digestOffset: Int

    private static let kernelField = (offset: 32, size: 32)
    private static let hashField = (offset: 64, size: 80)
    private static let tableOffset = 144
    private static let entrySize = 40
    private static let digestSize = 80

    /// The header expected for `entries` (offsets into packed data of `dataBytes` bytes) of a
    /// model with `contentHash`, packed for `kernel`. Nil when a key does not fit its field.
    init?(contentHash: String, kernel: String, entries: [Entry], dataBytes: Int) {
        let hash = Array(contentHash.utf8), kernelName = Array(kernel.utf8)
        guard !hash.isEmpty, hash.count <= Self.hashField.size, kernelName.count <= Self.kernelField.size,
              entries.count <= Int(UInt32.max) else { return nil }
        digestOffset = Self.tableOffset + 8 + entries.count * Self.entrySize
        headerBytes = AnonymousMemory.roundedUp(digestOffset + Self.digestSize) ?? 0
        guard dataBytes <= Int.max - headerBytes else { return nil }
        self.dataBytes = dataBytes
        fileBytes = headerBytes + dataBytes
        var h = Self.magic
        Self.append(UInt64(Self.formatVersion) | UInt64(Self.layoutVersion) << 32, to: &h)
        Self.append(UInt64(headerBytes), to: &h)
        Self.append(UInt64(fileBytes), to: &h)
        h += kernelName + [UInt8](repeating: 0, count: Self.kernelField.size - kernelName.count)
        h += hash + [UInt8](repeating: 0, count: Self.hashField.size - hash.count)
        Self.append(UInt64(entries.count), to: &h)
        for e in entries {
            Self.append(UInt64(e.type.rawValue) | UInt64(e.packedType) << 32, to: &h)
            for v in [e.rows, e.cols, e.offset, e.bytes] { Self.append(UInt64(v), to: &h) }
        }
        h += [UInt8](repeating: 0, count: headerBytes - h.count)
        header = h
    }

    private static func append(_ v: UInt64, to bytes: inout [UInt8]) {
        for i in 0 ..< 8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    // MARK: reading

    /// Opens, checks and maps `path` read-only and shared. With `verifyData`, also hashes the
    /// packed data (reads every page) against the digest in the header.
    func map(at path: String, verifyData: Bool) throws(Rejected) -> Mapping {
        // O_NONBLOCK: a FIFO planted at the path must not block the load; it fails S_ISREG.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let err = errno
            throw Rejected(description: "cannot open \(path): \(String(cString: strerror(err)))", missing: err == ENOENT)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw Rejected(description: "\(path) is not a regular file")
        }
        let size = Int(st.st_size)
        var found = [UInt8](repeating: 0, count: headerBytes)
        let read = size < Self.tableOffset ? 0 : found.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min(size, headerBytes), 0) }
        guard read >= Self.tableOffset else {
            throw Rejected(description: "\(path) is truncated: \(size) bytes, shorter than a packed-weights header")
        }
        if let mismatch = difference(found, count: read) {
            throw Rejected(description: "\(path) does not match this model: \(mismatch)")
        }
        guard size == fileBytes else {
            throw Rejected(description: "\(path) has \(size) bytes, expected \(fileBytes) (truncated or padded)")
        }
        guard let p = mmap(nil, fileBytes, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw Rejected(description: "cannot map \(path): \(String(cString: strerror(errno)))")
        }
        let mapping = Mapping(base: p, count: fileBytes, data: UnsafeRawPointer(p + headerBytes))
        if verifyData {
            let stored = Array(found[digestOffset ..< digestOffset + Self.digestSize])
            let computed = digest(of: mapping.data)
            guard stored == computed else {
                munmap(p, fileBytes)
                throw Rejected(description: "\(path): the packed data does not match its digest (corrupt)")
            }
        }
        return mapping
    }

    /// The first field where `found` (its first `count` bytes read from a file) differs from
    /// the expected header, in words; nil when all but the data digest agree.
    private func difference(_ found: [UInt8], count: Int) -> String? {
        func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
            (0 ..< 4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
        }
        func text(_ bytes: [UInt8], _ field: (offset: Int, size: Int)) -> String {
            let raw = bytes[field.offset ..< field.offset + field.size].prefix { $0 != 0 }
            return String(decoding: raw.prefix(80), as: UTF8.self)
        }
        let same = { (range: Range<Int>) in range.upperBound <= count && found[range] == header[range] }
        if !same(0 ..< 8) { return "not a packed-weights file (bad magic)" }
        if !same(8 ..< 12) { return "header format \(u32(found, 8)), this build reads \(Self.formatVersion)" }
        if !same(12 ..< 16) {
            return "packed layout version \(u32(found, 12)), this build's kernels use \(Self.layoutVersion)"
        }
        let kernel = Self.kernelField.offset ..< Self.kernelField.offset + Self.kernelField.size
        if !same(kernel) {
            return "packed for kernels '\(text(found, Self.kernelField))', this CPU runs '\(text(header, Self.kernelField))'"
        }
        let hash = Self.hashField.offset ..< Self.hashField.offset + Self.hashField.size
        if !same(hash) {
            return "made from model \(text(found, Self.hashField)), this model is \(text(header, Self.hashField))"
        }
        if count < headerBytes { return "truncated: \(count) of \(headerBytes) header bytes" }
        if !same(16 ..< 32) || !same(Self.tableOffset ..< digestOffset) {
            return "the matrix table (types, shapes, offsets or sizes) differs"
        }
        if !same(digestOffset + Self.digestSize ..< headerBytes) { return "the header padding is not zero" }
        let digest = found[digestOffset ..< digestOffset + Self.digestSize]
        guard digest.starts(with: Array("sha256:".utf8)), digest.dropFirst(7).prefix(64).allSatisfy(Self.isHexDigit),
              digest.dropFirst(71).allSatisfy({ $0 == 0 })
        else { return "the data digest field is malformed" }
        return nil
    }

    private static func isHexDigit(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x61...0x66).contains(c) }

    /// The digest field for the packed data at `data`.
    private func digest(of data: UnsafeRawPointer) -> [UInt8] {
        var hasher = ContentHasher()
        hasher.update(UnsafeRawBufferPointer(start: data, count: dataBytes))
        let text = Array(hasher.finalize().utf8)
        return text + [UInt8](repeating: 0, count: Self.digestSize - text.count)
    }

    // MARK: writing

    /// Builds the file at `path` (`pack` fills the packed data) and maps it (`built` false:
    /// another process built it meanwhile). One process at a time builds (an exclusive `flock`
    /// on `<path>.lock`); a process that waited maps what the other built. Written atomically: a temporary file in the same directory, its space
    /// reserved up front (a full disk is an error here, not a SIGBUS while packing), synced,
    /// made read-only, then renamed over `path`.
    func build(at path: String, pack: (UnsafeMutableRawPointer) -> Void) throws(Rejected) -> (mapping: Mapping, built: Bool) {
        let lock = open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard lock >= 0 else { throw Rejected(description: "cannot write beside \(path): \(String(cString: strerror(errno)))") }
        defer { close(lock) } // releases the lock
        guard flock(lock, LOCK_EX) == 0 else { throw Rejected(description: "cannot lock \(path).lock: \(String(cString: strerror(errno)))") }
        if let existing = try? map(at: path, verifyData: false) { return (existing, false) }

        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw Rejected(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var renamed = false
        defer {
            close(fd)
            if !renamed { unlink(temporary) }
        }
        let reserved = posix_fallocate(fd, 0, off_t(fileBytes))
        guard reserved == 0 else {
            throw Rejected(description: "cannot reserve \(fileBytes) bytes for \(temporary): \(String(cString: strerror(reserved)))")
        }
        guard let p = mmap(nil, fileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw Rejected(description: "cannot map \(temporary): \(String(cString: strerror(errno)))")
        }
        header.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: headerBytes) }
        pack(p + headerBytes)
        let sum = digest(of: UnsafeRawPointer(p + headerBytes))
        sum.withUnsafeBytes { (p + digestOffset).copyMemory(from: $0.baseAddress!, byteCount: sum.count) }
        let synced = msync(p, fileBytes, MS_SYNC) == 0
        munmap(p, fileBytes)
        guard synced, fsync(fd) == 0 else { throw Rejected(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        _ = fchmod(fd, 0o444)
        guard rename(temporary, path) == 0 else {
            throw Rejected(description: "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
        renamed = true
        Self.syncDirectory(of: path)
        return (try map(at: path, verifyData: false), true)
    }

    /// Makes the rename durable.
    private static func syncDirectory(of path: String) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
