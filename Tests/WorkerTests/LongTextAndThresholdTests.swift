import Foundation
import Inference
import Kafka
import ModerationProto
import Worker
import TestSupport
import XCTest

/// `--long-text windows` and per-category thresholds, unit and end to end (real broker).
final class LongTextAndThresholdTests: XCTestCase {
    func testCategoryThresholdsParseAndFlag() throws {
        var thresholds = CategoryThresholds(default: 0.5)
        try thresholds.apply(["Hate=0.2", "  violent_crimes = 0.9 ", "# comment", "JAILBREAK_PROMPTS=0.1"])
        XCTAssertEqual(thresholds.values[8], 0.2)
        XCTAssertEqual(thresholds.values[0], 0.9)
        XCTAssertEqual(thresholds.values[11], 0.1)
        XCTAssertEqual(thresholds.values[1], 0.5)
        var probabilities = [Float](repeating: 0.3, count: 12)
        probabilities[0] = 0.8  // under its 0.9
        XCTAssertEqual(thresholds.flagged(probabilities), [8, 11])
        XCTAssertThrowsError(try thresholds.apply(["Spam=0.5"])) { error in
            XCTAssertTrue("\(error)".contains("unknown category 'Spam'"))
        }
        XCTAssertThrowsError(try thresholds.apply(["Hate=1.5"]))
        XCTAssertThrowsError(try thresholds.apply(["Hate"]))
    }

    func testWindowsScoreTheMaximumOverWindowsAndThresholdsApplyPerCategory() async throws {
        let modelPath = try WorkerTestSupport.modelPath()
        let model = try DuoGuardModel.load(path: modelPath)
        let topics = try await WorkerTestSupport.makeTopics(partitions: 1)
        var configuration = WorkerTestSupport.configuration(topics, group: "g-\(UUID().uuidString.prefix(8))")
        configuration.scoring = TextScoring(maxTokens: 24, longText: .windows, windowOverlap: 4)
        try configuration.thresholds.apply(["Hate=0.01"] + DuoGuardModel.categoryNames.filter { $0 != "Hate" }.map { "\($0)=0.999" })
        let worker = WorkerTestSupport.InProcessWorker(configuration: configuration, model: model)

        let long = (0..<12).map { "Sentence number \($0) says something rather different from the others." }.joined(separator: " ")
        try await WorkerTestSupport.produce([WorkerTestSupport.request(id: "long", text: long)], to: topics.input)
        let result = try WorkerTestSupport.decodeResults(try await WorkerTestSupport.read(topics.output, count: 1))[0]
        try await worker.stop()

        let windows = model.tokenizer.windows(long, maxTokens: 24, overlap: 4)
        XCTAssertGreaterThan(windows.count, 3)
        XCTAssertTrue(windows.allSatisfy { $0.ids.count <= 24 && $0.ids.first == 128000 })
        let perWindow = try model.classify(batch: windows.map(\.ids))
        let expected = (0..<12).map { category in perWindow.map { $0.probabilities[category] }.max()! }
        XCTAssertEqual(result.windows, Int32(windows.count))
        for (got, want) in zip(result.probabilities, expected) { XCTAssertEqual(got, want, accuracy: 1e-5) }
        // The first window alone (what truncation scores) is beaten somewhere by a later window.
        XCTAssertTrue(zip(perWindow[0].probabilities, expected).contains { $0 < $1 })
        // `duoguard classify --long-text windows` scores the same maximum.
        let (_, output) = try await ChildProcess.capture(
            try WorkerTestSupport.binary,
            [
                "classify", "--model", modelPath, "--json", "--max-tokens", "24", "--long-text", "windows",
                "--window-overlap", "4", long,
            ])
        // Its line is a result in the wire's JSON mapping, as the worker's is.
        let line = try ModerationCodec.decodeResult(Array(output.split(separator: 0x0A).first ?? []), contentType: .json)
        XCTAssertEqual(line.windows, Int32(windows.count))
        XCTAssertEqual(line.probabilities.count, 12)
        for (index, name) in DuoGuardModel.categoryNames.enumerated() {
            XCTAssertEqual(line.probabilities[index], expected[index], accuracy: 1e-5, name)
            XCTAssertEqual(line.scores[index].name, name)
        }
        XCTAssertEqual(result.categoryThresholds.count, 12)
        XCTAssertEqual(result.categoryThresholds[8], 0.01)
        XCTAssertEqual(result.categoryNames, ["Hate"], "only Hate is over its (low) threshold")
        XCTAssertTrue(result.unsafe)
    }
}
