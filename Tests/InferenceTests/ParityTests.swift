import CKernels
import Foundation
import Inference
import XCTest

/// The forward pass against PyTorch `transformers` (reference logits in the fixtures).
final class ParityTests: XCTestCase {
    static let models = ["tiny-a", "tiny-b"]

    /// fp32: every prompt alone, max |Δlogit| <= 1e-4.
    func testF32SingleSequencesMatchTransformers() throws {
        for name in Self.models {
            let reference = try ModelFixtures.reference(name)
            let model = try ModelFixtures.model(name, type: .f32)
            var worst: Float = 0
            for prompt in reference.prompts {
                let result = try model.classify(batch: [prompt.ids])[0]
                let d = ModelFixtures.maxAbsDifference(result.logits, prompt.logits)
                worst = max(worst, d)
                XCTAssertLessThanOrEqual(d, 1e-4, "\(name): prompt of \(prompt.ids.count) tokens")
            }
            print("[parity] \(name) F32 single: max |dlogit| = \(worst)")
        }
    }

    /// fp32 padding-free batches equal single sequences (1e-5) and HF's padded batches (1e-4).
    func testF32BatchesMatchSingleAndPaddedReference() throws {
        for name in Self.models {
            let reference = try ModelFixtures.reference(name)
            for threads in [1, 2] {
                let model = try ModelFixtures.model(name, type: .f32, threads: threads)
                let singles = try reference.prompts.map { try model.classify(batch: [$0.ids])[0].logits }
                var worstSingle: Float = 0
                for batch in reference.batches {
                    let results = try model.classify(batch: batch.members.map { reference.prompts[$0].ids })
                    for (i, member) in batch.members.enumerated() {
                        let single = ModelFixtures.maxAbsDifference(results[i].logits, singles[member])
                        worstSingle = max(worstSingle, single)
                        XCTAssertLessThanOrEqual(single, 1e-5, "\(name): batched vs single, prompt \(member)")
                        XCTAssertLessThanOrEqual(ModelFixtures.maxAbsDifference(results[i].logits, batch.logits[i]), 1e-4,
                                                 "\(name): batched vs HF padded batch, prompt \(member)")
                    }
                }
                print("[parity] \(name) F32 batched vs single (threads \(threads)): max |dlogit| = \(worstSingle)")
            }
        }
    }

    /// A small token budget splits the batch; results are the same and in order.
    func testBatchLargerThanBudgetIsSplit() throws {
        let reference = try ModelFixtures.reference("tiny-b")
        let model = try ModelFixtures.model("tiny-b", type: .f32, budget: 600)
        let results = try model.classify(batch: reference.prompts.map(\.ids))
        XCTAssertEqual(results.count, reference.prompts.count)
        for (result, prompt) in zip(results, reference.prompts) {
            XCTAssertLessThanOrEqual(ModelFixtures.maxAbsDifference(result.logits, prompt.logits), 1e-4)
        }
    }

    /// Quantized types: errors against the fp32 reference, measured and bounded; and against
    /// the same reference run with ggml-quantized weights, which leaves only our 8-bit
    /// activation quantization (tight bound: proves the quantized matmul path is right).
    ///
    /// The tiny random models are far more sensitive than a trained one (weight-only Q4_0
    /// rounding alone moves their logits by up to ~1.9 in transformers), hence the loose
    /// bounds against fp32.
    func testQuantizedErrorsAreBounded() throws {
        // (type, vs fp32: logit, probability; vs quantized-weight reference: logit)
        let bounds: [(TensorType, Float, Float, Float?)] = [
            (.q8_0, 0.25, 0.06, 0.15), (.q4_0, 2.5, 0.5, 0.15), (.f16, 1e-4, 1e-4, nil),
        ]
        for name in Self.models {
            let reference = try ModelFixtures.reference(name)
            for (type, logitBound, probabilityBound, activationBound) in bounds {
                let model = try ModelFixtures.model(name, type: type)
                let results = try model.classify(batch: reference.prompts.map(\.ids))
                var worstLogit: Float = 0
                var worstProbability: Float = 0
                var sumLogit: Float = 0
                var n = 0
                for (result, prompt) in zip(results, reference.prompts) {
                    for (a, b) in zip(result.logits, prompt.logits) {
                        worstLogit = max(worstLogit, abs(a - b))
                        worstProbability = max(worstProbability, abs(ModelFixtures.sigmoid(a) - ModelFixtures.sigmoid(b)))
                        sumLogit += abs(a - b)
                        n += 1
                    }
                }
                var line = "[parity] \(name) \(type) vs fp32: max |dlogit| = \(worstLogit), mean |dlogit| = \(sumLogit / Float(n)), max |dprob| = \(worstProbability)"
                XCTAssertLessThanOrEqual(worstLogit, logitBound, "\(name) \(type)")
                XCTAssertLessThanOrEqual(worstProbability, probabilityBound, "\(name) \(type)")
                if let bound = activationBound {
                    let quantized = try XCTUnwrap(reference.quantized?[type.description], "no \(type) reference")
                    let worst = zip(results, quantized).map { ModelFixtures.maxAbsDifference($0.logits, $1) }.max() ?? 0
                    line += "; vs HF with \(type) weights: max |dlogit| = \(worst)"
                    XCTAssertLessThanOrEqual(worst, bound, "\(name) \(type) vs quantized-weight reference")
                }
                print(line)
            }
        }
    }

    /// `WeightFormat.q8Row`: the matrices whose rows are a multiple of 128 (tiny-b's down
    /// projections; tiny-a has none) are requantized to per-row int8 at load, the others stay
    /// as stored, and the mixed model stays within the Q8_0 bound of the fp32 reference, from
    /// an f32 and from a Q8_0 file (the second rounding), on every SIMD level and the scalar one.
    func testQ8RowFormatStaysWithinTheQ8Bound() throws {
        let reference = try ModelFixtures.reference("tiny-b")
        defer { _ = ck_set_kernels(nil) }
        for level in ["scalar", "avx2", "avx512vnni"] where ck_set_kernels(level) == 1 {
            for type in [TensorType.f32, .q8_0] {
                let model = try DuoGuardModel.load(path: ModelFixtures.gguf("tiny-b", type: type),
                                                   options: ModelOptions(batchTokenBudget: 1024, weightFormat: .q8Row))
                XCTAssertEqual(model.identity.quantization, "Q8_R from \(type.description)")
                let results = try model.classify(batch: reference.prompts.map(\.ids))
                let worst = zip(results, reference.prompts).map { ModelFixtures.maxAbsDifference($0.logits, $1.logits) }.max() ?? .infinity
                print("[parity] tiny-b Q8_R from \(type) (\(level)) vs fp32: max |dlogit| = \(worst)")
                XCTAssertLessThanOrEqual(worst, 0.25, "\(level) from \(type)")
            }
        }
        let stored = try DuoGuardModel.load(path: ModelFixtures.gguf("tiny-a", type: .q8_0),
                                            options: ModelOptions(batchTokenBudget: 1024, weightFormat: .q8Row))
        XCTAssertEqual(stored.identity.quantization, "Q8_0", "no row of tiny-a is a multiple of 128")
    }

    /// The quantized path against transformers with the same GGUF-rounded weights *and*
    /// ggml's activation quantization emulated (`quantized_activations` in the fixtures,
    /// scripts/model-fixtures.py): what our kernels compute, up to float summation order. Most
    /// prompts agree to 1e-3; a prompt can differ more when a summation-order difference
    /// flips one activation's rounding and the random network amplifies that step (bench/
    /// model/accuracy.py measures how far float64 sums alone move the emulation): the median
    /// prompt must agree to 1e-4, two thirds to 1e-3, all to 0.15. Every SIMD level and the
    /// scalar reference are checked.
    ///
    /// This is why the distance to `quantized` (weights only) reads ~0.09 here and up to
    /// 0.2-0.8 on random configurations with larger weights: it is the 8-bit activation
    /// rounding itself, which transformers shows to the same amount once it is emulated.
    func testQuantizedPathEqualsEmulatedActivationQuantization() throws {
        for name in Self.models {
            let reference = try ModelFixtures.reference(name)
            let data = try Data(contentsOf: URL(fileURLWithPath: ModelFixtures.directory(name)).appendingPathComponent("reference.json"))
            let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let emulated = try XCTUnwrap(json["quantized_activations"] as? [String: [[Double]]],
                                         "\(name): no quantized_activations (scripts/model-fixtures.py --activation-reference)")
            for type in [TensorType.q8_0, .q4_0] {
                let expected = try XCTUnwrap(emulated[type.description])
                let levels = ["scalar"] + ["avx2", "avx512vnni"].filter { (level: String) in ck_set_kernels(level) == 1 }
                defer { _ = ck_set_kernels(nil) }
                for level in levels {
                    XCTAssertEqual(ck_set_kernels(level), 1)
                    let model = try ModelFixtures.model(name, type: type)
                    let results = try model.classify(batch: reference.prompts.map(\.ids))
                    XCTAssertEqual(results.count, expected.count, "\(name) \(type) \(level): one result per reference prompt")
                    let distances = zip(results, expected).map { ModelFixtures.maxAbsDifference($0.logits, $1.map(Float.init)) }
                    let close = distances.filter { $0 <= 1e-3 }.count
                    let worst = distances.max() ?? 0
                    let median = distances.sorted()[distances.count / 2]
                    print("[parity] \(name) \(type) \(level) vs HF with \(type) weights and emulated activation quantization: "
                          + "\(close)/\(distances.count) prompts within 1e-3, median |dlogit| = \(median), max = \(worst); over 1e-3: "
                          + zip(reference.prompts, distances).filter { $0.1 > 1e-3 }.map { "\($0.0.ids.count) tokens \($0.1)" }.joined(separator: ", "))
                    XCTAssertLessThanOrEqual(median, 1e-4, "\(name) \(type) \(level): most prompts must agree exactly but for float order")
                    XCTAssertGreaterThanOrEqual(3 * close, 2 * distances.count, "\(name) \(type) \(level)")
                    XCTAssertLessThanOrEqual(worst, 0.15, "\(name) \(type) \(level)")
                }
            }
        }
    }

    /// Hugging Face directories load directly: bf16 sharded (4.x config), f16, and f32 with a
    /// transformers 5.x config (rope_parameters).
    func testHuggingFaceDirectoriesLoadDirectly() throws {
        try ModelFixtures.requireTokenizer()
        let reference = try ModelFixtures.reference("tiny-b")
        for (name, tolerance) in [("tiny-b", Float(1e-4)), ("tiny-b-f16", 1e-3), ("tiny-b-f32", 1e-4)] {
            let model = try DuoGuardModel.load(path: ModelFixtures.directory(name),
                                               options: ModelOptions(batchTokenBudget: 1024, tokenizerPath: ModelFixtures.tokenizerPath))
            XCTAssertEqual(model.identity.quantization, "F32")
            let results = try model.classify(batch: reference.prompts.map(\.ids))
            let worst = zip(results, reference.prompts).map { ModelFixtures.maxAbsDifference($0.logits, $1.logits) }.max() ?? 0
            print("[parity] \(name) loaded as a directory: max |dlogit| = \(worst)")
            XCTAssertLessThanOrEqual(worst, tolerance, name)
        }
    }

    /// Pooling: the rightmost non-pad token, index 0 when all are pad.
    func testPoolingSkipsTrailingPadAndFallsBackToZero() throws {
        let model = try ModelFixtures.model("tiny-b", type: .f32)
        let pad = model.config.padTokenID
        let base: [Int32] = [8000, 11, 12, 13]
        let plain = try model.classify(batch: [base])[0]
        let padded = try model.classify(batch: [base + [pad, pad]])[0]
        XCTAssertEqual(plain.logits, padded.logits, "trailing pad ids must not change the pooled token")
        let onlyPad = try model.classify(batch: [[pad, pad, pad]])[0]
        let firstPad = try model.classify(batch: [[pad]])[0]
        XCTAssertLessThanOrEqual(ModelFixtures.maxAbsDifference(onlyPad.logits, firstPad.logits), 1e-6)
    }

    func testInvalidInputsAreRejected() throws {
        let model = try ModelFixtures.model("tiny-b", type: .q8_0, budget: 64)
        XCTAssertThrowsError(try model.classify(batch: [[]])) { XCTAssertEqual($0 as? InferenceError, .emptySequence(index: 0)) }
        XCTAssertThrowsError(try model.classify(batch: [[1], [8192]])) {
            XCTAssertEqual($0 as? InferenceError, .tokenOutOfRange(sequence: 1, token: 8192, vocabSize: 8192))
        }
        XCTAssertThrowsError(try model.classify(batch: [[Int32](repeating: 5, count: 65)])) {
            XCTAssertEqual($0 as? InferenceError, .sequenceTooLong(index: 0, tokens: 65, budget: 64))
        }
        XCTAssertEqual(try model.classify(batch: []).count, 0)
    }
}
