import Foundation
@testable import Inference
@testable import ModelFormats
import XCTest

/// Crafted model files whose numbers are chosen to break arithmetic or allocation: each one
/// once trapped (overflow, `Int(_:)` of an out-of-range value) or tried to allocate far more
/// than the file holds. Every one must now be a `ModelFileError` naming the file, tensor or
/// key and what is wrong.
final class HostileModelFileTests: XCTestCase {
    private var scratch: URL!

    override func setUp() {
        scratch = ModelFixtures.temporaryDirectory()
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func path(_ name: String) -> String {
        scratch.appendingPathComponent(name).path
    }

    private func assertFails<T>(
        _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line,
        _ expected: (ModelFileError) -> Bool
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? ModelFileError else { return XCTFail("not a ModelFileError: \(error)", file: file, line: line) }
            XCTAssertTrue(expected(e), "unexpected error: \(e)", file: file, line: line)
        }
    }

    private func isCorrupt(_ e: ModelFileError, mentioning word: String) -> Bool {
        switch e {
        case .corrupt(_, let detail), .truncated(_, let detail): detail.contains(word)
        default: false
        }
    }

    // MARK: GGUF header

    /// `start + bytes` of a tensor whose size and offset each pass their own check but
    /// whose sum passes Int.max.
    func testTensorEndPastIntMaxIsCorrupt() throws {
        var g = GGUFBytes(tensorCount: 1, keyCount: 0)
        g.tensor("huge", dimensions: [1 << 39, 1 << 21], type: 0, offset: (1 << 62) - 32)
        g.pad(to: 32)
        g.bytes += [UInt8](repeating: 0, count: 64)
        try g.write(to: path("end.gguf"))
        assertFails(try GGUFFile(path: path("end.gguf"))) { isCorrupt($0, mentioning: "huge") }
    }

    /// A tensor offset that is not a multiple of the alignment (ggml rejects it too: the
    /// kernels read blocks in place).
    func testMisalignedTensorOffsetIsCorrupt() throws {
        var g = GGUFBytes(tensorCount: 1, keyCount: 0)
        g.tensor("odd", dimensions: [4], type: 0, offset: 3)
        g.pad(to: 32)
        g.bytes += [UInt8](repeating: 0, count: 64)
        try g.write(to: path("odd.gguf"))
        assertFails(try GGUFFile(path: path("odd.gguf"))) { isCorrupt($0, mentioning: "odd") }
    }

    /// `general.alignment` = 2^62 passed the power-of-two check and overflowed rounding the
    /// data offset up.
    func testHugeAlignmentIsCorrupt() throws {
        var g = GGUFBytes(tensorCount: 0, keyCount: 1)
        g.key("general.alignment", type: 10)
        g.u64(1 << 62)
        try g.write(to: path("align.gguf"))
        assertFails(try GGUFFile(path: path("align.gguf"))) { isCorrupt($0, mentioning: "general.alignment") }
    }

    /// A metadata array whose count fits in the file (4 GiB, sparse) reserved 24 bytes per
    /// announced element up front: ~100 GB. Now the reservation is bounded and the total
    /// number of metadata items is capped.
    func testHugeMetadataArrayDoesNotReserveItsCount() throws {
        var g = GGUFBytes(tensorCount: 0, keyCount: 1)
        g.key("tokenizer.ggml.scores", type: 9)
        g.u32(0) // uint8 elements
        g.u64(UInt64(1) << 32 - 4096)
        let file = path("array.gguf")
        try g.write(to: file)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try handle.truncate(atOffset: UInt64(1) << 32) // sparse: no disk used
        try handle.close()
        assertFails(try GGUFFile(path: file)) { isCorrupt($0, mentioning: "tokenizer.ggml.scores") }
    }

    /// A string array may not claim more elements than its remaining bytes can hold (8 bytes
    /// of length each), even when the count is below the byte count.
    func testStringArrayCountBeyondItsBytesIsTruncated() throws {
        var g = GGUFBytes(tensorCount: 0, keyCount: 1)
        g.key("tokenizer.ggml.tokens", type: 9)
        g.u32(8)
        g.u64(1000)
        g.bytes += [UInt8](repeating: 0, count: 2000) // room for 250 empty strings
        try g.write(to: path("strings.gguf"))
        assertFails(try GGUFFile(path: path("strings.gguf"))) { isCorrupt($0, mentioning: "tokenizer.ggml.tokens") }
    }

    func testDuplicateMetadataKeyIsCorrupt() throws {
        var g = GGUFBytes(tensorCount: 0, keyCount: 2)
        g.key("general.architecture", type: 8)
        g.string("llama")
        g.key("general.architecture", type: 8)
        g.string("mamba")
        try g.write(to: path("dup.gguf"))
        assertFails(try GGUFFile(path: path("dup.gguf"))) { isCorrupt($0, mentioning: "general.architecture") }
    }

    func testDimensionProductOverflowIsCorrupt() throws {
        var g = GGUFBytes(tensorCount: 1, keyCount: 0)
        g.tensor("wide", dimensions: [(1 << 40) - 32, (1 << 40) - 1, (1 << 40) - 1], type: 8, offset: 0)
        g.pad(to: 32)
        try g.write(to: path("dims.gguf"))
        assertFails(try GGUFFile(path: path("dims.gguf"))) { isCorrupt($0, mentioning: "wide") }
    }

    // MARK: GGUF hyperparameters

    /// The tiny-b Q8_0 file written again with `edit` applied to its metadata.
    private func rewritten(_ edit: (inout [(key: String, value: GGUFValue)]) -> Void) throws -> String {
        let source = try GGUFFile(path: ModelFixtures.gguf("tiny-b", type: .q8_0))
        var writer = GGUFWriter()
        writer.metadata = source.metadata
        edit(&writer.metadata)
        writer.tensors = source.tensors.map { GGUFWriter.Tensor(name: $0.name, dimensions: $0.dimensions, type: $0.type) }
        let output = path("rewritten-\(UUID().uuidString).gguf")
        _ = try writer.write(to: output, produce: { (i: Int) throws(ModelFileError) -> [UInt8] in
            source.bytes(of: source.tensors[i].name) ?? []
        })
        return output
    }

    private func set(_ key: String, _ value: GGUFValue) -> (inout [(key: String, value: GGUFValue)]) -> Void {
        { metadata in
            if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i].value = value } else { metadata.append((key, value)) }
        }
    }

    private func assertHyperparametersRejected(_ key: String, _ value: GGUFValue, mentioning word: String,
                                               file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try rewritten(set(key, value))
        assertFails(try DuoGuardModel.load(path: model, options: ModelOptions(batchTokenBudget: 16)), file: file, line: line) {
            if case .invalidMetadata(_, let detail) = $0 { return detail.contains(word) }
            return false
        }
    }

    /// `headCount * headDim` (and `kvHeadCount * headDim`) overflowed before any tensor
    /// shape was compared with them.
    func testHeadCountTimesHeadDimOverflowIsInvalidMetadata() throws {
        let big = GGUFValue.uint64(1 << 32)
        let model = try rewritten { metadata in
            for key in [GGUFNames.headCount, GGUFNames.headCountKV, GGUFNames.keyLength, GGUFNames.valueLength] {
                set(key, big)(&metadata)
            }
        }
        assertFails(try DuoGuardModel.load(path: model, options: ModelOptions(batchTokenBudget: 16))) {
            if case .invalidMetadata(_, let detail) = $0 { return detail.contains("head") }
            return false
        }
    }

    func testAbsurdHyperparametersAreInvalidMetadata() throws {
        try assertHyperparametersRejected(GGUFNames.vocabSize, .uint64(1 << 40), mentioning: "vocab")
        try assertHyperparametersRejected(GGUFNames.blockCount, .uint64(1 << 40), mentioning: "layers")
        try assertHyperparametersRejected(GGUFNames.embeddingLength, .uint64(1 << 40), mentioning: "hidden")
        try assertHyperparametersRejected(GGUFNames.threshold, .float32(.nan), mentioning: "threshold")
        try assertHyperparametersRejected(GGUFNames.threshold, .float32(1), mentioning: "threshold")
        try assertHyperparametersRejected(GGUFNames.rmsEpsilon, .float32(.infinity), mentioning: "rms_norm_eps")
        try assertHyperparametersRejected(GGUFNames.ropeScalingFactor, .float32(.nan), mentioning: "rope")
        try assertHyperparametersRejected(GGUFNames.maxTokens, .uint64(1 << 40), mentioning: "max tokens")
        try assertHyperparametersRejected(GGUFNames.padTokenID, .uint64(1 << 40), mentioning: "pad")
    }

    // MARK: safetensors

    /// A one-file Hugging Face directory: tiny-a's config.json and `safetensors` as its weights.
    private func directory(safetensors: [UInt8], config edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let target = scratch.appendingPathComponent("model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        let source = URL(fileURLWithPath: ModelFixtures.directory("tiny-a")).appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any] ?? [:]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: target.appendingPathComponent("config.json"))
        try Data(safetensors).write(to: target.appendingPathComponent("model.safetensors"))
        return target.path
    }

    private func safetensors(headerLength: UInt64? = nil, header: String, data: Int = 0) -> [UInt8] {
        var bytes = withUnsafeBytes(of: (headerLength ?? UInt64(header.utf8.count)).littleEndian) { Array($0) }
        bytes += Array(header.utf8)
        bytes += [UInt8](repeating: 0, count: data)
        return bytes
    }

    /// A header length of 2^64 - 1 went through `Int(_:)` and trapped.
    func testSafetensorsHeaderLengthBeyondIntIsTruncated() throws {
        let dir = try directory(safetensors: safetensors(headerLength: .max, header: "{}"))
        assertFails(try HuggingFaceModelDirectory(path: dir)) { if case .truncated = $0 { true } else { false } }
    }

    /// A shape whose element count overflows trapped when the tensor was read.
    func testSafetensorsShapeProductOverflowIsCorrupt() throws {
        let header = #"{"x": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 16]}}"#
        let dir = try directory(safetensors: safetensors(header: header, data: 16))
        let file = URL(fileURLWithPath: dir).appendingPathComponent("model.safetensors").path
        assertFails(try SafeTensorsFile(path: file).floats("x")) { isCorrupt($0, mentioning: "x") }
    }

    /// Offsets and shapes must be exact integers (1e300 used to become Int.min silently), and
    /// a tensor's byte range must match its dtype and shape when the file is opened.
    func testSafetensorsInexactNumbersAndSizeMismatch() throws {
        for header in [
            #"{"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1e300]}}"#,
            #"{"x": {"dtype": "F32", "shape": [4.5], "data_offsets": [0, 16]}}"#,
            #"{"x": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}"#,
            #"{"x": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}"#,
            #"{"x": {"dtype": "BF16", "shape": [9223372036854775807], "data_offsets": [0, 16]}}"#,
        ] {
            let dir = try directory(safetensors: safetensors(header: header, data: 16))
            assertFails(try HuggingFaceModelDirectory(path: dir)) { isCorrupt($0, mentioning: "x") }
        }
    }

    func testSafetensorsShardNameMustBeAPlainFileName() throws {
        let dir = try directory(safetensors: safetensors(header: "{}"))
        try Data(#"{"weight_map": {"model.embed_tokens.weight": "../../etc/passwd"}}"#.utf8)
            .write(to: URL(fileURLWithPath: dir).appendingPathComponent("model.safetensors.index.json"))
        assertFails(try HuggingFaceModelDirectory(path: dir)) { isCorrupt($0, mentioning: "etc/passwd") }
    }

    // MARK: config.json

    private func assertConfigRejected(_ edit: (inout [String: Any]) -> Void, mentioning word: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try directory(safetensors: safetensors(header: "{}"), config: edit)
        assertFails(try HuggingFaceModelDirectory(path: dir), file: file, line: line) {
            if case .badConfig(_, let detail) = $0 { return detail.contains(word) }
            return false
        }
    }

    /// `num_attention_heads * head_dim` overflowed in the converter's block-size check.
    func testConfigHeadCountTimesHeadDimOverflowIsBadConfig() throws {
        try assertConfigRejected({
            $0["num_attention_heads"] = 1 << 32
            $0["num_key_value_heads"] = 1 << 32
            $0["head_dim"] = 1 << 32
        }, mentioning: "head")
    }

    /// `Int(Double)` of `original_max_position_embeddings` = 1e300 trapped.
    func testConfigRopeContextBeyondIntIsBadConfig() throws {
        try assertConfigRejected({
            $0["rope_scaling"] = ["rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 1e300]
        }, mentioning: "original_max_position_embeddings")
    }

    /// A vocabulary of 2^40 made the converter allocate 2^40 llama.cpp token strings before
    /// reading a single tensor.
    func testConfigAbsurdSizesAreBadConfig() throws {
        try assertConfigRejected({ $0["vocab_size"] = 1 << 40 }, mentioning: "vocab_size")
        try assertConfigRejected({ $0["hidden_size"] = 1 << 40 }, mentioning: "hidden_size")
        try assertConfigRejected({ $0["num_hidden_layers"] = 1 << 40 }, mentioning: "num_hidden_layers")
        try assertConfigRejected({ $0["intermediate_size"] = 0 }, mentioning: "intermediate_size")
        try assertConfigRejected({ $0["hidden_size"] = -32 }, mentioning: "hidden_size")
        try assertConfigRejected({ $0["vocab_size"] = 1.5 }, mentioning: "vocab_size")
        try assertConfigRejected({ $0["vocab_size"] = true }, mentioning: "vocab_size")
        try assertConfigRejected({ $0["pad_token_id"] = (1 << 32) + 128_001 }, mentioning: "pad_token_id")
        try assertConfigRejected({ $0["rms_norm_eps"] = 0 }, mentioning: "rms_norm_eps")
        try assertConfigRejected({ $0["rope_theta"] = -1 }, mentioning: "rope_theta")
    }

    /// A config.json far larger than any real one is refused before it is read into memory.
    func testOversizedConfigIsRefusedUnread() throws {
        let dir = try directory(safetensors: safetensors(header: "{}"))
        let config = URL(fileURLWithPath: dir).appendingPathComponent("config.json")
        let handle = try FileHandle(forWritingTo: config)
        try handle.truncate(atOffset: UInt64(1) << 33) // 8 GiB, sparse
        try handle.close()
        assertFails(try HuggingFaceModelDirectory(path: dir)) {
            if case .badConfig(_, let detail) = $0 { return detail.contains("bytes") }
            return false
        }
    }

    /// The converter checks every source tensor's shape before building anything sized by
    /// the config (the llama.cpp vocabulary has `vocab_size` entries).
    func testConverterChecksShapesBeforeSizingTheVocabulary() throws {
        let dir = try directory(safetensors: safetensors(header: "{}"), config: { $0["vocab_size"] = 1 << 22 })
        let model = try HuggingFaceModelDirectory(path: dir)
        assertFails(try ModelConverter.convert(directory: model, to: path("out.gguf"),
                                               options: ConversionOptions(type: .f32, tokenizerPath: ModelFixtures.tokenizerPath))) {
            $0 == .missingTensor("model.embed_tokens.weight")
        }
    }

    /// The converter refuses options the loader would refuse in the file it writes.
    func testConverterRefusesOptionsTheLoaderWouldRefuse() throws {
        let model = try HuggingFaceModelDirectory(path: ModelFixtures.directory("tiny-b"))
        for options in [ConversionOptions(type: .f32, tokenizerPath: ModelFixtures.tokenizerPath, threshold: 1),
                        ConversionOptions(type: .f32, tokenizerPath: ModelFixtures.tokenizerPath, threshold: .nan),
                        ConversionOptions(type: .f32, tokenizerPath: ModelFixtures.tokenizerPath, maxTokens: 0)] {
            assertFails(try ModelConverter.convert(directory: model, to: path("refused.gguf"), options: options)) {
                if case .invalidMetadata = $0 { return true }
                return false
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("refused.gguf")))
        }
    }
}
