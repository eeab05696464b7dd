import Foundation
import TestSupport
import XCTest

/// The harness itself: it must find a trap, a hang and an over-allocation, each ending the
/// process with the input saved. Each runs in a child copy of this test process (the failure
/// kills it); the child is bounded and killed if it outlives its bound.
final class FuzzHarnessTests: XCTestCase {
    private static let childFlag = "DUOGUARD_FUZZ_SELFTEST"

    /// The child's side: a target with a planted bug, found by mutating its seed.
    func testPlantedBug() throws {
        guard let kind = ProcessInfo.processInfo.environment[Self.childFlag] else {
            throw XCTSkip("runs only as the child of testHarnessFinds*")
        }
        let marker = Array(kind.uppercased().utf8)
        let target = FuzzTarget(name: "planted-\(kind)", seeds: [Array(marker.dropLast())], dictionary: [[marker.last ?? 0]],
                                maxLength: 64) { bytes in
            guard bytes.count >= marker.count,
                  (0 ... bytes.count - marker.count).contains(where: { Array(bytes[$0 ..< $0 + marker.count]) == marker })
            else { return true }
            switch kind {
            case "trap": fatalError("planted trap")
            case "hang": while true { Thread.sleep(forTimeInterval: 1) }
            default: return [UInt8](repeating: 1, count: 1 << 38).count > 0 // 256 GiB
            }
        }
        Fuzzer.fromEnvironment().run(target)
        XCTFail("the planted \(kind) was not found")
    }

    func testHarnessFindsATrap() throws { try expectChildDies("trap", saying: "crashed") }
    func testHarnessFindsAHang() throws { try expectChildDies("hang", saying: "hung") }
    func testHarnessFindsAnOverAllocation() throws { try expectChildDies("hog", saying: "crashed") }

    private func expectChildDies(_ kind: String, saying word: String) throws {
        if ProcessInfo.processInfo.environment[Self.childFlag] != nil { throw XCTSkip("child") }
        guard let executable = Bundle.main.executablePath else { throw XCTSkip("no test executable path") }
        let crashDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-selftest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: crashDirectory) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = ["FuzzTests.FuzzHarnessTests/testPlantedBug"]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.childFlag] = kind
        environment["DUOGUARD_FUZZ_SECONDS"] = "60"
        environment["DUOGUARD_FUZZ_SEED"] = "7"
        environment["DUOGUARD_FUZZ_CASE_TIMEOUT"] = "1"
        environment["DUOGUARD_FUZZ_MEMORY_MB"] = "1024"
        environment["DUOGUARD_FUZZ_CRASH_DIR"] = crashDirectory.path
        environment["SWIFT_BACKTRACE"] = "enable=no"
        child.environment = environment
        let errorPipe = Pipe()
        child.standardError = errorPipe
        child.standardOutput = FileHandle.nullDevice
        try child.run()
        let stderr = ErrorCollector(errorPipe.fileHandleForReading)
        // Bounded: killed and failed after 120 s (and not fooled by a missed exit, see ChildProcess).
        guard let status = ChildProcess.waitForExitBlocking(child, timeout: .seconds(120), "the \(kind) child") else { return }
        let output = stderr.finish()
        XCTAssertGreaterThan(status, 128, "the planted bug kills the child with a signal; child output:\n\(output.suffix(2000))")
        XCTAssertTrue(output.contains("target planted-\(kind) \(word)") && output.contains("in case"), output.suffix(2000).description)
        let saved = crashDirectory.appendingPathComponent("planted-\(kind)-seed7.crash")
        let input = try [UInt8](Data(contentsOf: saved))
        let marker = Array(kind.uppercased().utf8)
        XCTAssertTrue(input.count >= marker.count && (0 ... input.count - marker.count).contains { Array(input[$0 ..< $0 + marker.count]) == marker },
                      "the saved input \(input) lacks \(kind.uppercased())")
    }
}

/// Reads a pipe to its end on a background thread (so the child never blocks on a full pipe).
private final class ErrorCollector: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }.start()
    }

    /// The text read; waits at most 10 s for the pipe to close.
    func finish() -> String {
        _ = done.wait(timeout: .now() + 10)
        return String(decoding: data, as: UTF8.self)
    }
}
