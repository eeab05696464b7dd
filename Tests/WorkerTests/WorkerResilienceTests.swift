import Foundation
import Kafka
import ModerationProto
import TestSupport
import XCTest

/// Worker processes (the real `duoguard worker` binary) killed, stopped and scaled out
/// against the real broker: every request must get a result.
final class WorkerResilienceTests: XCTestCase {
    private func requests(_ count: Int, prefix: String) -> [ModerationRequest] {
        (0..<count).map { WorkerTestSupport.request(id: "\(prefix)-\($0)", text: "request number \($0) \(prefix)") }
    }

    /// Reads results until every id of `expected` is there; returns how often each id came.
    private func answers(_ topic: String, expected: Set<String>, timeout: Duration = .seconds(120)) async throws -> [String: Int] {
        let collector = WorkerTestSupport.KeyCollector(expected)
        let messages = try await WorkerTestSupport.read(topic, timeout: timeout) { collector.saw($0) }
        var counts: [String: Int] = [:]
        for result in try WorkerTestSupport.decodeResults(messages) {
            XCTAssertEqual(result.status.code, .ok)
            counts[result.requestID, default: 0] += 1
        }
        return counts
    }

    private func waitForResults(_ topic: String, atLeast count: Int) async throws {
        _ = try await WorkerTestSupport.read(topic, count: count)
    }

    func testTwoWorkerProcessesShareTheWorkAndAnswerEachRequestOnce() async throws {
        let model = try WorkerTestSupport.modelPath()
        let topics = try await WorkerTestSupport.makeTopics(partitions: 4)
        let group = "g-\(UUID().uuidString.prefix(8))"
        let a = try WorkerTestSupport.spawnWorker(topics, group: group, model: model, id: "worker-a")
        let b = try WorkerTestSupport.spawnWorker(topics, group: group, model: model, id: "worker-b")
        defer { for p in [a, b] { ChildProcess.killIfRunning(p) } }
        try await Task.sleep(for: .seconds(8))  // both members joined and split the partitions

        let sent = requests(800, prefix: "share")
        try await WorkerTestSupport.produce(sent, to: topics.input)
        let counts = try await answers(topics.output, expected: Set(sent.map(\.id)))
        let messages = try await WorkerTestSupport.read(topics.output, count: counts.values.reduce(0, +))
        let workers = Set(try WorkerTestSupport.decodeResults(messages).map(\.workerID))
        XCTAssertEqual(workers, ["worker-a", "worker-b"], "both workers took a share")
        XCTAssertEqual(counts.count, 800, "every request answered")
        XCTAssertEqual(counts.values.filter { $0 > 1 }.count, 0, "no request answered twice")
        for p in [a, b] {
            p.terminate()
            let status = await ChildProcess.waitForExit(p, timeout: .seconds(60), "worker after SIGTERM")
            XCTAssertEqual(status, 0)
        }
    }

    func testKilledWorkerLosesNothingAfterRestart() async throws {
        let model = try WorkerTestSupport.modelPath()
        let topics = try await WorkerTestSupport.makeTopics(partitions: 4)
        let group = "g-\(UUID().uuidString.prefix(8))"
        // Issue 17 asks for 20,000 (`DUOGUARD_CRASH_REQUESTS=20000`); CI runs 3,000.
        let total = ProcessInfo.processInfo.environment["DUOGUARD_CRASH_REQUESTS"].flatMap { Int($0) } ?? 3_000
        let sent = requests(total, prefix: "crash")
        try await WorkerTestSupport.produce(sent, to: topics.input)

        let first = try WorkerTestSupport.spawnWorker(
            topics, group: group, model: model, id: "first", extra: ["--commit-interval-ms", "200"])
        try await waitForResults(topics.output, atLeast: 500)
        kill(first.processIdentifier, SIGKILL)
        await ChildProcess.waitForExit(first, timeout: .seconds(10), "worker after SIGKILL")
        let beforeKill = try await WorkerTestSupport.readAll(topics.output).count

        let second = try WorkerTestSupport.spawnWorker(
            topics, group: group, model: model, id: "second", extra: ["--commit-interval-ms", "200"])
        defer { ChildProcess.killIfRunning(second) }
        let counts = try await answers(topics.output, expected: Set(sent.map(\.id)), timeout: .seconds(max(120, total / 20)))
        let duplicates = counts.values.reduce(0) { $0 + $1 - 1 }
        print("crash test: \(total) requests, \(beforeKill) results before SIGKILL, lost \(total - counts.count), duplicates \(duplicates)")
        XCTAssertEqual(counts.count, total, "zero lost")
        XCTAssertLessThan(duplicates, beforeKill, "duplicates are bounded by the work in flight at the kill")
        second.terminate()
        await ChildProcess.waitForExit(second, timeout: .seconds(60), "worker after SIGTERM")
    }

    func testGracefulShutdownWithWorkInFlightLosesNothingAndDuplicatesNothing() async throws {
        let model = try WorkerTestSupport.modelPath()
        let topics = try await WorkerTestSupport.makeTopics(partitions: 4)
        let group = "g-\(UUID().uuidString.prefix(8))"
        let sent = requests(2_000, prefix: "term")
        try await WorkerTestSupport.produce(sent, to: topics.input)

        let first = try WorkerTestSupport.spawnWorker(topics, group: group, model: model, id: "first")
        try await waitForResults(topics.output, atLeast: 300)
        first.terminate()  // SIGTERM with a backlog in flight
        let status = await ChildProcess.waitForExit(first, timeout: .seconds(60), "worker after SIGTERM")
        XCTAssertEqual(status, 0, "SIGTERM drains and exits 0")

        let second = try WorkerTestSupport.spawnWorker(topics, group: group, model: model, id: "second")
        defer { ChildProcess.killIfRunning(second) }
        let counts = try await answers(topics.output, expected: Set(sent.map(\.id)))
        XCTAssertEqual(counts.count, 2_000, "zero lost")
        XCTAssertEqual(counts.values.filter { $0 > 1 }.count, 0, "zero duplicates after a graceful stop")
        second.terminate()
        await ChildProcess.waitForExit(second, timeout: .seconds(60), "worker after SIGTERM")
    }

    func testBacklogOf50000KeepsMemoryBounded() async throws {
        let model = try WorkerTestSupport.modelPath()
        let topics = try await WorkerTestSupport.makeTopics(partitions: 4)
        let count = 50_000
        let sent = requests(count, prefix: "b")
        try await WorkerTestSupport.produce(sent, to: topics.input)

        let worker = try WorkerTestSupport.spawnWorker(topics, group: "g-\(UUID().uuidString.prefix(8))", model: model, id: "backlog")
        defer { ChildProcess.killIfRunning(worker) }
        let sampler = Task {
            var peak = 0
            while !Task.isCancelled {
                peak = max(peak, ProcessFigures.memory(of: worker.processIdentifier)?.current ?? 0)
                try? await Task.sleep(for: .milliseconds(100))
            }
            return peak
        }
        let counts = try await answers(topics.output, expected: Set(sent.map(\.id)), timeout: .seconds(600))
        sampler.cancel()
        let peak = await sampler.value
        print("backlog test: \(count) requests answered, worker peak RSS \(peak / 1_048_576) MiB")
        XCTAssertEqual(counts.count, count)
        XCTAssertLessThan(peak, 200 * 1_048_576, "RSS stays bounded with a 50,000-request backlog")
        worker.terminate()
        await ChildProcess.waitForExit(worker, timeout: .seconds(60), "worker after SIGTERM")
    }
}
