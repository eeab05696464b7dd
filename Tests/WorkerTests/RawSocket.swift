import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP client socket for testing the health server from the outside, as a hostile or
/// slow peer would: raw bytes, no HTTP library in between, and every wait bounded.
///
/// Non-blocking underneath; `connect`, `read` and `readResponse` wait with `poll` up to a
/// deadline, so a server that stalls makes the test fail with a message instead of hanging.
final class RawSocket {
    enum Failure: Error, CustomStringConvertible {
        case system(String)
        case timedOut(String)

        var description: String {
            switch self {
            case .system(let message): return message
            case .timedOut(let message): return "timed out: \(message)"
            }
        }
    }

    /// What the peer did within a bounded read.
    enum ReadOutcome: Equatable {
        case bytes([UInt8])
        /// The peer closed (EOF) or reset the connection.
        case closed
        case timedOut
    }

    /// A parsed HTTP/1.x response.
    struct Response {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    private(set) var fd: Int32

    /// Connects to `host:port` (an IPv4 or IPv6 literal) within `timeout` seconds.
    init(host: String, port: Int, timeout: Double = 1) throws {
        var storage = sockaddr_storage()
        let length: socklen_t
        let family: Int32
        if host.contains(":") {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { throw Failure.system("bad address \(host)") }
            withUnsafeBytes(of: address) { source in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            family = AF_INET6
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw Failure.system("bad address \(host)") }
            withUnsafeBytes(of: address) { source in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            family = AF_INET
        }
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure.system("socket(): \(String(cString: strerror(errno)))") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let result = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        if result != 0 {
            guard errno == EINPROGRESS else {
                let reason = String(cString: strerror(errno))
                close()
                throw Failure.system("connect \(host):\(port): \(reason)")
            }
            guard wait(for: Int16(POLLOUT), until: Self.deadline(timeout)) else {
                close()
                throw Failure.timedOut("connect \(host):\(port)")
            }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
            guard error == 0 else {
                close()
                throw Failure.system("connect \(host):\(port): \(String(cString: strerror(error)))")
            }
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Sends all of `bytes` within `timeout` seconds; false if the peer closed or it did not fit.
    @discardableResult
    func send(_ bytes: [UInt8], timeout: Double = 1) -> Bool {
        let deadline = Self.deadline(timeout)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                guard wait(for: Int16(POLLOUT), until: deadline) else { return false }
            } else if n < 0, errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    @discardableResult
    func send(_ text: String, timeout: Double = 1) -> Bool { send(Array(text.utf8), timeout: timeout) }

    /// Waits up to `timeout` seconds for bytes, EOF or a reset.
    func read(timeout: Double) -> ReadOutcome {
        let deadline = Self.deadline(timeout)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { return .bytes(Array(buffer[0..<n])) }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            guard errno == EAGAIN || errno == EWOULDBLOCK else { return .closed }
            guard wait(for: Int16(POLLIN), until: deadline) else { return .timedOut }
        }
    }

    /// Reads until EOF or reset within `timeout` seconds; true if the peer closed in time.
    /// Bytes that arrive first (a response) are returned through `received`.
    func waitForClose(timeout: Double, received: inout [UInt8]) -> Bool {
        let deadline = Self.deadline(timeout)
        while true {
            switch read(timeout: max(0, deadline - Self.now())) {
            case .bytes(let bytes): received += bytes
            case .closed: return true
            case .timedOut: return false
            }
        }
    }

    /// Reads one HTTP/1.x response (head + `Content-Length` body) within `timeout` seconds.
    /// `bodyExpected: false` for a response to HEAD. Leftover bytes stay in `pending`.
    func readResponse(timeout: Double, bodyExpected: Bool = true) throws -> Response {
        let deadline = Self.deadline(timeout)
        while true {
            if let response = try Self.parse(&pending, bodyExpected: bodyExpected) { return response }
            switch read(timeout: max(0, deadline - Self.now())) {
            case .bytes(let bytes): pending += bytes
            case .closed: throw Failure.system("connection closed before a complete response (\(pending.count) bytes)")
            case .timedOut: throw Failure.timedOut("no complete response (\(pending.count) bytes so far)")
            }
        }
    }

    private var pending: [UInt8] = []

    private static func parse(_ buffer: inout [UInt8], bodyExpected: Bool) throws -> Response? {
        guard let end = buffer.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw Failure.system("not an HTTP/1.x status line: \(head.prefix(80))")
        }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = bodyExpected ? Int(headers.first { $0.name.lowercased() == "content-length" }?.value ?? "0") ?? 0 : 0
        guard buffer.count - end.upperBound >= length else { return nil }
        let body = Array(buffer[end.upperBound..<end.upperBound + length])
        buffer.removeFirst(end.upperBound + length)
        return Response(status: status, headers: headers, body: body)
    }

    private func wait(for events: Int16, until deadline: Double) -> Bool {
        while true {
            let remaining = deadline - Self.now()
            guard remaining > 0 else { return false }
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&descriptor, 1, Int32(min(remaining * 1000, 60_000).rounded(.up)))
            if n > 0 { return true }
            if n < 0, errno != EINTR { return true }  // let the next call report the error
        }
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func deadline(_ timeout: Double) -> Double { now() + timeout }
}
