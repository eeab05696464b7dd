#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Saves the input of the running fuzz case when the process dies in it.
///
/// A trap (SIGILL/SIGTRAP), a failed allocation (SIGABRT), a stack overflow (SIGSEGV, on an
/// alternate stack) cannot be caught, and must not be: they are what fuzzing looks for. A
/// signal handler writes the current input to a file with async-signal-safe calls only, prints
/// where it is, then hands the signal to the previous handler (Swift's backtracer), so the
/// process still dies with its usual report and the test run fails.
enum CrashRecorder {
    private static let signals: [Int32] = [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE]
    /// Everything the handler reads, allocated up front (a handler must not allocate).
    nonisolated(unsafe) private static var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 16)
    nonisolated(unsafe) private static var capacity = 1 << 16
    nonisolated(unsafe) private static var length = 0
    nonisolated(unsafe) private static var caseNumber = 0
    nonisolated(unsafe) private static var path: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var label: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    nonisolated(unsafe) private static var alternateStack: UnsafeMutableRawPointer?
    nonisolated(unsafe) private static var armed = false

    /// Installs the handlers for one target; `path` is where a crashing input goes.
    static func arm(target: String, path crashPath: String) {
        disarm()
        path = strdup(crashPath)
        label = strdup(target)
        if alternateStack == nil {
            // Room for the handler when the crash is a stack overflow.
            let size = 1 << 16
            alternateStack = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            var stack = stack_t()
            stack.ss_sp = alternateStack
            stack.ss_size = size
            stack.ss_flags = 0
            sigaltstack(&stack, nil)
        }
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = crashSignalHandler
            action.sa_flags = SA_ONSTACK
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, previous + Int(signal))
        }
        armed = true
    }

    /// Restores the previous handlers.
    static func disarm() {
        guard armed else { return }
        for signal in signals { sigaction(signal, previous + Int(signal), nil) }
        armed = false
        free(path)
        free(label)
        path = nil
        label = nil
    }

    /// Records the input about to run (outside any handler: may grow the buffer).
    static func begin(case number: Int, input: [UInt8]) {
        if input.count > capacity {
            let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: input.count)
            let old = buffer
            buffer = bigger
            capacity = input.count
            old.deallocate()
        }
        length = 0
        caseNumber = number
        input.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { buffer.update(from: base, count: source.count) }
        }
        length = input.count
    }

    /// Writes the recorded input and a one-line note; async-signal-safe.
    static func saveInput(reason: StaticString) {
        guard let path, let label else { return }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd >= 0 {
            var written = 0
            while written < length {
                let n = write(fd, buffer + written, length - written)
                if n <= 0 { break }
                written += n
            }
            close(fd)
        }
        put("\nfuzz: target ")
        putC(label)
        put(" ")
        put(reason)
        put(" in case ")
        putNumber(caseNumber)
        put("; its input (")
        putNumber(length)
        put(" bytes) is in ")
        putC(path)
        put("\n")
    }

    fileprivate static func handle(_ signal: Int32) {
        saveInput(reason: "crashed")
        // Back to the previous handler; the signal is blocked while this one runs, so it is
        // delivered again, to that handler, as soon as this returns.
        sigaction(signal, previous + Int(signal), nil)
        raise(signal)
    }

    private static func put(_ s: StaticString) {
        _ = write(2, s.utf8Start, s.utf8CodeUnitCount)
    }

    private static func putC(_ s: UnsafeMutablePointer<CChar>) {
        _ = write(2, s, strlen(s))
    }

    private static func putNumber(_ value: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { out in
            var v = max(0, value)
            var i = out.count
            repeat {
                i -= 1
                out[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0 && i > 0
            if let base = out.baseAddress { _ = write(2, base + i, out.count - i) }
        }
    }
}

private func crashSignalHandler(_ signal: Int32) {
    CrashRecorder.handle(signal)
}
