import Foundation
import Synchronization
import XCTest

/// Bounded waits on child processes and on awaits that might not return: a test that would
/// hang instead kills what it started and fails with a message saying what was stuck.
/// Shared by every test target that starts programs (`TestSupport`, not shipped).
public enum ChildProcess {
    /// Waits for `process` to exit; after `timeout` sends SIGKILL, fails the test and
    /// returns nil.
    @discardableResult
    public static func waitForExit(
        _ process: Process, timeout: Duration = .seconds(60), _ what: String = "child process",
        file: StaticString = #filePath, line: UInt = #line
    ) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while exitStatus(process) == nil && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return finish(process, what, timeout, file: file, line: line)
    }

    /// The same, for synchronous callers.
    @discardableResult
    public static func waitForExitBlocking(
        _ process: Process, timeout: Duration = .seconds(120), _ what: String = "child process",
        file: StaticString = #filePath, line: UInt = #line
    ) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while exitStatus(process) == nil && ContinuousClock.now < deadline { usleep(20_000) }
        return finish(process, what, timeout, file: file, line: line)
    }

    /// Runs `executable`, collecting its standard output; killed (and the test failed) when
    /// it takes longer than `timeout`.
    /// With `mergingStandardError`, standard error goes to the same pipe (swift-log writes
    /// to standard output, argument errors to standard error).
    public static func capture(
        _ executable: String, _ arguments: [String], timeout: Duration = .seconds(120), mergingStandardError: Bool = false,
        environment: [String: String]? = nil, file: StaticString = #filePath, line: UInt = #line
    ) async throws -> (status: Int32?, output: Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        if mergingStandardError { process.standardError = pipe }
        let output = Mutex(Data())
        let reader = Thread { output.withLock { $0 = pipe.fileHandleForReading.readDataToEndOfFile() } }
        try process.run()
        reader.start()
        let status = await waitForExit(process, timeout: timeout, "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.first ?? "")", file: file, line: line)
        // The pipe closes with the child; give the reader a moment to see the end.
        for _ in 0..<100 where !reader.isFinished { try? await Task.sleep(for: .milliseconds(10)) }
        return (status, output.withLock { $0 })
    }

    /// `capture` for synchronous callers: output and error output go to files (no pipe to
    /// drain); `errors` is empty when merged into `output`.
    public static func captureBlocking(
        _ executable: String, _ arguments: [String], timeout: Duration = .seconds(120), mergingStandardError: Bool = false,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> (status: Int32?, output: Data, errors: Data) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outputURL = directory.appendingPathComponent("out")
        let errorURL = directory.appendingPathComponent("err")
        FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL)
        let errors = try FileHandle(forWritingTo: errorURL)
        defer {
            try? output.close()
            try? errors.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = mergingStandardError ? output : errors
        try process.run()
        let status = waitForExitBlocking(
            process, timeout: timeout, "\(URL(fileURLWithPath: executable).lastPathComponent) \(arguments.first ?? "")", file: file, line: line)
        return (status, (try? Data(contentsOf: outputURL)) ?? Data(), (try? Data(contentsOf: errorURL)) ?? Data())
    }

    private static func finish(_ process: Process, _ what: String, _ timeout: Duration, file: StaticString, line: UInt) -> Int32? {
        if let status = exitStatus(process) { return status }
        kill(process.processIdentifier, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(10)
        while exitStatus(process) == nil && ContinuousClock.now < deadline { usleep(10_000) }
        XCTFail("\(what) (pid \(process.processIdentifier)) did not exit within \(timeout); killed", file: file, line: line)
        return nil
    }

    /// The exit status once `process` has exited, else nil.
    ///
    /// Foundation's `Process` on Linux sometimes misses a child's exit (the child stays a
    /// zombie, `isRunning` stays true and `waitUntilExit()` never returns: seen in this suite
    /// with children that exit within milliseconds of starting). So a zombie is also
    /// recognised here from /proc and reaped with `waitpid`. A child killed by a signal reads
    /// 128 + the signal number (the shell's convention) whichever of the two saw it exit.
    /// Never read `Process.terminationReason`/`terminationStatus` directly in a test: for a
    /// child reaped here Foundation still thinks it runs, and those getters trap.
    public static func exitStatus(_ process: Process) -> Int32? {
        if !process.isRunning { return foundationStatus(process) }
        let pid = process.processIdentifier
        if let status = reaped.withLock({ $0[pid] }) { return status }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first == "Z"
        else { return nil }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return process.isRunning ? nil : foundationStatus(process) }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out (they are C macros).
        let signal = status & 0x7F
        let exit = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
        reaped.withLock { $0[pid] = exit }
        return exit
    }

    private static func foundationStatus(_ process: Process) -> Int32 {
        process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// SIGKILL for a child that has not exited (cleanup in `defer`: never signals a pid that
    /// was already reaped, which the system may have reused).
    public static func killIfRunning(_ process: Process) {
        if exitStatus(process) == nil { kill(process.processIdentifier, SIGKILL) }
    }

    /// Exit statuses of children reaped here (Foundation will not report them).
    private static let reaped = Mutex<[pid_t: Int32]>([:])
}
