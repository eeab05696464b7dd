import CKernels
import Foundation
@testable import Inference
@testable import ModelFormats
import TestSupport
import XCTest

/// Our GGUF files read by the `gguf` Python package (ggml's own reader and dequantizers):
/// the block layout, tensor table and metadata must be what ggml tooling expects.
final class GGUFCompatibilityTests: XCTestCase {
    static let python = ModelFixtures.repositoryRoot.appendingPathComponent(".venv/bin/python").path

    /// Runs the gguf reader on `path`; returns its JSON report and the dequantized tensors.
    private func readWithPython(_ path: String) throws -> (report: [String: Any], values: [Float]) {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            XCTFail("\(Self.python) missing: create .venv with the gguf package (pip install gguf)")
            throw XCTSkip("no python")
        }
        let out = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: out) }
        let script = """
        import json, sys
        import numpy as np
        try:
            from gguf import GGUFReader
            from gguf.quants import dequantize
        except ImportError:
            sys.exit("the gguf package is not installed in .venv")
        r = GGUFReader(sys.argv[1])
        tensors, chunks = [], []
        for t in r.tensors:
            v = dequantize(t.data, t.tensor_type).astype(np.float32).ravel()
            tensors.append({"name": t.name, "type": t.tensor_type.name, "shape": [int(x) for x in t.shape], "count": int(v.size)})
            chunks.append(v)
        np.concatenate(chunks).tofile(sys.argv[2] + "/values.f32")
        def field(k):
            f = r.fields[k]
            return f.contents()
        keys = ["general.architecture", "llama.block_count", "llama.embedding_length", "llama.attention.head_count",
                "llama.attention.head_count_kv", "llama.rope.freq_base", "duoguard.categories", "duoguard.pad_token_id",
                "duoguard.max_tokens", "duoguard.threshold", "duoguard.content_hash", "tokenizer.ggml.model",
                "general.file_type"]
        meta = {k: field(k) for k in keys}
        meta["tokens"] = len(r.fields["tokenizer.ggml.tokens"].data)
        meta["merges"] = len(r.fields["tokenizer.ggml.merges"].data)
        json.dump({"tensors": tensors, "metadata": meta}, open(sys.argv[2] + "/report.json", "w"))
        """
        let (status, errorOutput, _) = try ChildProcess.captureBlocking(
            Self.python, ["-c", script, path, out.path], timeout: .seconds(300), mergingStandardError: true)
        guard status == 0 else {
            XCTFail("gguf reader failed: \(String(decoding: errorOutput, as: UTF8.self))")
            throw XCTSkip("python failed")
        }
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any] ?? [:]
        let raw = try Data(contentsOf: out.appendingPathComponent("values.f32"))
        let values = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (report, values)
    }

    func testGGUFPackageReadsOurQuantizedFiles() throws {
        for type in [TensorType.q8_0, .q4_0] {
            let path = try ModelFixtures.gguf("tiny-b", type: type)
            let (report, values) = try readWithPython(path)
            let file = try GGUFFile(path: path)
            let tensors = try XCTUnwrap(report["tensors"] as? [[String: Any]])
            XCTAssertEqual(tensors.count, file.tensors.count)
            var offset = 0
            var quantizedTensors = 0
            for (info, theirs) in zip(file.tensors, tensors) {
                XCTAssertEqual(theirs["name"] as? String, info.name)
                XCTAssertEqual(theirs["type"] as? String, info.type.description, info.name)
                XCTAssertEqual(theirs["shape"] as? [Int], info.dimensions, info.name)
                let count = info.elementCount
                XCTAssertEqual(theirs["count"] as? Int, count)
                var ours = [Float](repeating: 0, count: count)
                let bytes = try XCTUnwrap(file.bytes(of: info.name))
                bytes.withUnsafeBytes { raw in
                    ours.withUnsafeMutableBufferPointer { ck_dequantize_row(info.type.ckType, raw.baseAddress, $0.baseAddress, Int64(count)) }
                }
                XCTAssertEqual(Array(values[offset ..< offset + count]), ours, "\(info.name) dequantized by gguf differs from ours")
                if info.type == type { quantizedTensors += 1 }
                offset += count
            }
            XCTAssertEqual(quantizedTensors, 1 + 7 * 3, "embedding + 7 matrices per layer in \(type)")
            let meta = try XCTUnwrap(report["metadata"] as? [String: Any])
            XCTAssertEqual(meta["general.architecture"] as? String, "llama")
            XCTAssertEqual(meta["llama.block_count"] as? Int, 3)
            XCTAssertEqual(meta["llama.attention.head_count_kv"] as? Int, 1)
            XCTAssertEqual(meta["duoguard.categories"] as? [String], DuoGuardModel.categoryNames)
            XCTAssertEqual(meta["duoguard.pad_token_id"] as? Int, 8001)
            XCTAssertEqual(meta["duoguard.max_tokens"] as? Int, 512)
            XCTAssertEqual(meta["tokenizer.ggml.model"] as? String, "gpt2")
            XCTAssertEqual(meta["tokens"] as? Int, 8192)
            XCTAssertEqual(meta["general.file_type"] as? Int, type == .q8_0 ? 7 : 2)
            XCTAssertEqual(meta["duoguard.content_hash"] as? String, file.computeContentHash(), "content hash")
        }
    }

    /// Q/K rows are stored permuted per head (llama.cpp's converter layout).
    func testQueryRowsArePermutedPerHead() throws {
        let path = try ModelFixtures.gguf("tiny-b", type: .f32)
        let file = try GGUFFile(path: path)
        let directory = try HuggingFaceModelDirectory(path: ModelFixtures.directory("tiny-b"))
        let hf = try directory.floats("model.layers.1.self_attn.q_proj.weight", shape: [64, 64])
        let bytes = try XCTUnwrap(file.bytes(of: "blk.1.attn_q.weight"))
        let ours = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let d = 16
        for head in 0 ..< 4 {
            for i in 0 ..< d / 2 {
                XCTAssertEqual(Array(ours[(head * d + 2 * i) * 64 ..< (head * d + 2 * i + 1) * 64]),
                               Array(hf[(head * d + i) * 64 ..< (head * d + i + 1) * 64]))
                XCTAssertEqual(Array(ours[(head * d + 2 * i + 1) * 64 ..< (head * d + 2 * i + 2) * 64]),
                               Array(hf[(head * d + i + d / 2) * 64 ..< (head * d + i + d / 2 + 1) * 64]))
            }
        }
    }

    func testMetadataRoundTripsAndHashVerifies() throws {
        let path = try ModelFixtures.gguf("tiny-a", type: .q8_0)
        let model = try DuoGuardModel.load(path: path, options: ModelOptions(batchTokenBudget: 64, verifyContentHash: true))
        XCTAssertEqual(model.config.vocabSize, 128_256)
        XCTAssertEqual(model.config.headDim, 8)
        XCTAssertEqual(model.config.kvHeadCount, 2)
        XCTAssertEqual(model.config.ropeScaling, RopeScaling(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192))
        XCTAssertEqual(model.config.padTokenID, 128_001)
        XCTAssertEqual(model.config.threshold, 0.5)
        XCTAssertEqual(model.identity.quantization, "Q8_0")
        XCTAssertEqual(model.identity.name, "tiny-a")
        XCTAssertTrue(model.identity.contentHash.hasPrefix("sha256:"))
        XCTAssertEqual(model.tokenizer.tokenID("<|end_of_text|>"), 128_001)
    }

    /// The content hash is standard SHA-256 (FIPS 180-4 vectors), also when fed in pieces
    /// as the writer and `computeContentHash` feed it tensor by tensor.
    func testContentHashKnownVectors() {
        XCTAssertEqual(ContentHasher().finalize(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        var abc = ContentHasher()
        abc.update(Array("abc".utf8))
        XCTAssertEqual(abc.finalize(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var long = ContentHasher()
        let message = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        long.update(Array(message[0 ..< 10]))
        message[10...].withUnsafeBytes { long.update($0) }
        XCTAssertEqual(long.finalize(), "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var million = ContentHasher()
        million.update([UInt8](repeating: 0x61, count: 1_000_000))
        XCTAssertEqual(million.finalize(), "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// `sha256sum` over the tensor bytes, concatenated in table order, gives the stored hash.
    func testContentHashMatchesSha256sum() throws {
        let path = try ModelFixtures.gguf("tiny-b", type: .q4_0)
        let file = try GGUFFile(path: path)
        var all = Data()
        for t in file.tensors { all.append(contentsOf: file.bytes(of: t.name) ?? []) }
        let dump = ModelFixtures.temporaryDirectory().appendingPathComponent("tensors.bin")
        defer { try? FileManager.default.removeItem(at: dump.deletingLastPathComponent()) }
        try all.write(to: dump)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sha256sum", dump.path]
        let output = ModelFixtures.temporaryDirectory().appendingPathComponent("sum.txt")
        defer { try? FileManager.default.removeItem(at: output.deletingLastPathComponent()) }
        FileManager.default.createFile(atPath: output.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if exited.wait(timeout: .now() + 60) == .timedOut {
            process.terminate()
            return XCTFail("sha256sum did not finish within 60 s; terminated it")
        }
        let digest = String(decoding: try Data(contentsOf: output), as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
        XCTAssertEqual(file["duoguard.content_hash"]?.stringValue, "sha256:" + digest)
        XCTAssertEqual(file.computeContentHash(), "sha256:" + digest)
    }
}
