import Foundation
@testable import Inference
@testable import ModelFormats
import XCTest

/// The packed-weights file (`PackedWeightsFile`, `PackedWeightsStorage`): a model mapped from
/// it scores exactly as one packed privately, and a file that does not match the model (other
/// model, other layout version, truncated, corrupt, not a file) is never used: rejected with a
/// reason (and the model packs privately), or rebuilt where the operator allowed writing.
final class PackedWeightsFileTests: XCTestCase {
    /// Each test's own copy of the Q4_0 tiny-b model, so that `<model>.packed` files written
    /// here never meet the shared fixture cache of other tests.
    private var directory: URL!
    private var modelPath: String!

    override func setUpWithError() throws {
        directory = ModelFixtures.temporaryDirectory()
        modelPath = directory.appendingPathComponent("tiny-b-q4_0.gguf").path
        try FileManager.default.copyItem(atPath: try ModelFixtures.gguf("tiny-b", type: .q4_0), toPath: modelPath)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private var packedPath: String { modelPath + ".packed" }

    /// Token sequences of several lengths (batch of three; tiny-b's vocabulary is 8192, its
    /// begin-of-text 8000), the same in every test.
    private let batch: [[Int32]] = [
        [8000] + (0 ..< 40).map { Int32(($0 * 7919) % 8000) },
        [8000, 906, 1917],
        [8000] + (0 ..< 130).map { Int32(($0 * 104_729 + 17) % 8000) },
    ]

    private func load(_ storage: PackedWeightsStorage, verify: Bool = false) throws -> DuoGuardModel {
        try DuoGuardModel.load(path: modelPath, options: ModelOptions(threads: 2, batchTokenBudget: 256, verifyContentHash: verify,
                                                                      packedWeights: storage))
    }

    private func logits(_ model: DuoGuardModel) throws -> [[Float]] {
        try model.classify(batch: batch).map(\.logits)
    }

    /// Builds `<model>.packed` beside the model and returns the private-memory logits.
    private func buildBeside() throws -> [[Float]] {
        let reference = try logits(load(.privateMemory))
        let built = try load(.directory(directory.path))
        guard case .builtFile(let path, _) = built.packedWeights else {
            XCTFail("not built: \(built.packedWeights)")
            return reference
        }
        XCTAssertEqual(path, packedPath)
        return reference
    }

    private func assertRejected(_ containing: String, verify: Bool = false, reference: [[Float]],
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try load(.besideModel, verify: verify)
        guard case .privateMemory(let reason) = model.packedWeights else {
            return XCTFail("the file was used: \(model.packedWeights)", file: file, line: line)
        }
        XCTAssertTrue(reason.contains(containing), "reason: \(reason)", file: file, line: line)
        XCTAssertEqual(try logits(model), reference, "a rejected file falls back to private packing", file: file, line: line)
    }

    /// Overwrites bytes of the packed file (made read-only by the builder; root or not, the
    /// test reopens it writable after chmod).
    private func patch(at offset: Int, _ bytes: [UInt8]) throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: packedPath)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: packedPath))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data(bytes))
    }

    private func readHeaderField(_ offset: Int) throws -> Int {
        let data = try Data(contentsOf: URL(fileURLWithPath: packedPath))
        return (0 ..< 8).reduce(0) { $0 | Int(data[offset + $1]) << (8 * $1) }
    }

    /// Offset in the file of panel `panel` of matrix `index` (layer 0: q, k, v, o, gate, up, down).
    private func panelOffset(matrix index: Int, panel: Int) throws -> Int {
        let headerBytes = try readHeaderField(16)
        let entry = 152 + 40 * index
        let (rows, offset, bytes) = (try readHeaderField(entry + 8), try readHeaderField(entry + 24), try readHeaderField(entry + 32))
        let panels = (rows + 15) / 16
        return headerBytes + offset + panel * (bytes / panels)
    }

    func testMappedFileScoresExactlyAsPrivatePacking() throws {
        let reference = try buildBeside()
        let built = try load(.directory(directory.path))
        XCTAssertEqual(built.packedWeights, .mappedFile(path: packedPath), "a second load maps what the first built")
        XCTAssertEqual(try logits(built), reference)
        let beside = try load(.besideModel, verify: true)
        XCTAssertEqual(beside.packedWeights, .mappedFile(path: packedPath))
        XCTAssertEqual(try logits(beside), reference)
        // Read-only: the builder made the file 0444.
        let mode = try FileManager.default.attributesOfItem(atPath: packedPath)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o444)
        // No temporary files are left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        XCTAssertEqual(names.filter { $0.contains(".tmp-") }, [])
    }

    func testBesideModelNeverWrites() throws {
        let model = try load(.besideModel)
        XCTAssertEqual(model.packedWeights.isShared, false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: packedPath))
        XCTAssertFalse(FileManager.default.fileExists(atPath: packedPath + ".lock"))
    }

    func testUnwritableDirectoryFallsBackToPrivateMemory() throws {
        let reference = try logits(load(.privateMemory))
        let missing = directory.appendingPathComponent("no-such-directory").path
        let model = try load(.directory(missing))
        guard case .privateMemory(let reason) = model.packedWeights else { return XCTFail("\(model.packedWeights)") }
        XCTAssertTrue(reason.contains("cannot write"), reason)
        XCTAssertEqual(try logits(model), reference)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing))
    }

    func testTruncatedFileIsRejected() throws {
        let reference = try buildBeside()
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: packedPath)[.size] as? Int)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: packedPath)
        XCTAssertEqual(truncate(packedPath, off_t(size - 4096)), 0)
        try assertRejected("bytes, expected", reference: reference)
        XCTAssertEqual(truncate(packedPath, 100), 0)
        try assertRejected("shorter than a packed-weights header", reference: reference)
        XCTAssertEqual(truncate(packedPath, 0), 0)
        try assertRejected("truncated", reference: reference)
    }

    func testFileOfAnotherModelOrLayoutIsRejected() throws {
        let reference = try buildBeside()
        try patch(at: 64 + 7, Array("0000".utf8)) // the content hash
        try assertRejected("made from model sha256:0000", reference: reference)
        try patch(at: 64 + 7, Array(try XCTUnwrap(load(.privateMemory).identity.contentHash.utf8.dropFirst(7).prefix(4))))
        XCTAssertEqual(try load(.besideModel).packedWeights, .mappedFile(path: packedPath), "restored")

        try patch(at: 12, [UInt8(truncatingIfNeeded: PackedWeightsFile.layoutVersion + 1), 0, 0, 0])
        try assertRejected("packed layout version \(PackedWeightsFile.layoutVersion + 1)", reference: reference)
        try patch(at: 12, [UInt8(truncatingIfNeeded: PackedWeightsFile.layoutVersion), 0, 0, 0])

        try patch(at: 32, Array("scalar-x".utf8)) // kernels
        try assertRejected("packed for kernels 'scalar-x", reference: reference)
        try FileManager.default.removeItem(atPath: packedPath)
        _ = try buildBeside()

        try patch(at: 152 + 8, [0xFF]) // rows of the first matrix
        try assertRejected("matrix table", reference: reference)
        try FileManager.default.removeItem(atPath: packedPath)
        _ = try buildBeside()

        try patch(at: 0, Array("NOTPACKD".utf8))
        try assertRejected("bad magic", reference: reference)
    }

    func testCorruptDataIsRejected() throws {
        let reference = try buildBeside()
        // Panel 0 of layer 0's gate matrix: checked at every load by repacking it.
        let checked = try panelOffset(matrix: 4, panel: 0) + 100
        try patch(at: checked, [0x5A, 0xA5])
        try assertRejected("panel 0 differs", reference: reference)
        try FileManager.default.removeItem(atPath: packedPath)
        _ = try buildBeside()
        // Panel 1 of layer 0's down matrix (64 rows: panels 0, 2, 3 are spot-checked): only the
        // digest of a verifying load sees it.
        try patch(at: try panelOffset(matrix: 6, panel: 1) + 100, [0x5A, 0xA5])
        XCTAssertEqual(try load(.besideModel).packedWeights, .mappedFile(path: packedPath), "not spot-checked")
        try assertRejected("does not match its digest", verify: true, reference: reference)
    }

    func testStaleFileIsRebuiltWhereWritingIsAllowed() throws {
        let reference = try buildBeside()
        try patch(at: 12, [0xEE, 0, 0, 0])
        let model = try load(.directory(directory.path))
        guard case .builtFile(_, let replaced) = model.packedWeights else { return XCTFail("\(model.packedWeights)") }
        XCTAssertTrue(replaced.contains("packed layout version 238"), replaced)
        XCTAssertEqual(try logits(model), reference)
        XCTAssertEqual(try load(.besideModel).packedWeights, .mappedFile(path: packedPath))
    }

    func testNonRegularFilesAreRejected() throws {
        let reference = try logits(load(.privateMemory))
        try FileManager.default.createDirectory(atPath: packedPath, withIntermediateDirectories: false)
        try assertRejected("not a regular file", reference: reference)
        try FileManager.default.removeItem(atPath: packedPath)
        XCTAssertEqual(mkfifo(packedPath, 0o644), 0)
        try assertRejected("not a regular file", reference: reference) // and does not block
        try FileManager.default.removeItem(atPath: packedPath)
        try Data((0 ..< 9000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: packedPath))
        try assertRejected("bad magic", reference: reference)
    }

    func testConcurrentBuildersShareOneFile() throws {
        let reference = try logits(load(.privateMemory))
        let results = LockedResults()
        let (path, folder, batch) = (modelPath!, directory.path, batch)
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            do {
                let model = try DuoGuardModel.load(path: path, options: ModelOptions(threads: 2, batchTokenBudget: 256,
                                                                                     packedWeights: .directory(folder)))
                results.append(model.packedWeights, try model.classify(batch: batch).map(\.logits))
            } catch {
                results.append(.none, [])
            }
        }
        XCTAssertEqual(results.items.count, 3)
        for (origin, values) in results.items {
            XCTAssertTrue(origin.isShared, "\(origin)")
            XCTAssertEqual(values, reference)
        }
        XCTAssertEqual(results.items.filter { if case .builtFile = $0.0 { true } else { false } }.count, 1, "one builder, the others waited and mapped")
    }
}

/// Results gathered from concurrent loads.
private final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var items: [(PackedWeightsOrigin, [[Float]])] = []
    func append(_ origin: PackedWeightsOrigin, _ values: [[Float]]) {
        lock.lock()
        items.append((origin, values))
        lock.unlock()
    }
}
