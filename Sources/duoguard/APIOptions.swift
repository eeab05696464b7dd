import ArgumentParser
import Foundation
import GRPCFront
import Worker

/// `--http-port` and friends: the synchronous HTTP API of `duoguard worker` (beside Kafka)
/// and `duoguard serve` (without). docs/api.md.
struct APIOptions: ParsableArguments {
    @Option(name: .long, help: OptionTable.help("--http-host"))
    var httpHost: String?
    @Option(name: .long, help: OptionTable.help("--http-port"))
    var httpPort: Int?
    @Option(name: .long, help: OptionTable.help("--api-key-file"))
    var apiKeyFile: String?
    @Option(name: .long, help: OptionTable.help("--max-sync-requests"))
    var maxSyncRequests: Int?
    @Option(name: .long, help: OptionTable.help("--max-sync-bytes"))
    var maxSyncBytes: Int?
    @Option(name: .long, help: OptionTable.help("--sync-fill-tokens"))
    var syncFillTokens: Int?
    @Option(name: .long, help: OptionTable.help("--max-http-body-bytes"))
    var maxHttpBodyBytes: Int?
    @Option(name: .long, help: OptionTable.help("--grpc-host"))
    var grpcHost: String?
    @Option(name: .long, help: OptionTable.help("--grpc-port"))
    var grpcPort: Int?
    @Option(name: .long, help: OptionTable.help("--max-http-connections"))
    var maxHttpConnections: Int?

    /// The synchronous entry's configuration, or nil without an HTTP or gRPC port (`required`:
    /// `serve`, which has nothing else to do).
    func front(_ env: Environment, required: Bool) throws -> FrontDoorConfiguration? {
        let port = try env.value(httpPort, "HTTP_PORT")
        if port == nil, try env.value(grpcPort, "GRPC_PORT") == nil {
            if required { throw ValidationError("missing --http-port or --grpc-port (or DUOGUARD_HTTP_PORT, DUOGUARD_GRPC_PORT)") }
            return nil
        }
        var front = FrontDoorConfiguration(httpPort: port)
        if let host = try env.value(httpHost, "HTTP_HOST") { front.httpHost = host }
        if let path = try env.value(apiKeyFile, "API_KEY_FILE") { front.apiKey = try Self.readKey(path) }
        if let value = try env.value(maxSyncRequests, "MAX_SYNC_REQUESTS") { front.maxRequests = value }
        if let value = try env.value(maxSyncBytes, "MAX_SYNC_BYTES") { front.maxBytes = value }
        if let value = try env.value(maxHttpBodyBytes, "MAX_HTTP_BODY_BYTES") { front.server.maxBodyBytes = value }
        if let value = try env.value(syncFillTokens, "SYNC_FILL_TOKENS") { front.syncFillTokens = value }
        if let value = try env.value(maxHttpConnections, "MAX_HTTP_CONNECTIONS") { front.server.maxConnections = value }
        return front
    }

    /// What stopping the API servers of `front` adds to a worker's stop (``ShutdownBound``).
    func shutdownSteps(_ env: Environment, front: FrontDoorConfiguration?) throws -> [ShutdownBound.Step] {
        ShutdownBound.apiSteps(
            httpStop: front?.httpPort == nil ? nil : front?.server.stopTimeout, grpc: try env.value(grpcPort, "GRPC_PORT") != nil)
    }

    /// The gRPC server in front of `frontDoor`, or nil without `--grpc-port`.
    func grpc(_ env: Environment, frontDoor: ModerationFrontDoor, isServing: @escaping @Sendable () -> Bool) throws -> GRPCFrontServer? {
        guard let port = try env.value(grpcPort, "GRPC_PORT") else { return nil }
        guard (0...65_535).contains(port) else { throw ValidationError("--grpc-port: \(port) is not in 0...65535") }
        let host = try env.value(grpcHost, "GRPC_HOST") ?? "0.0.0.0"
        let body = try env.value(maxHttpBodyBytes, "MAX_HTTP_BODY_BYTES") ?? (1 << 20)
        return GRPCFrontServer(host: host, port: port, frontDoor: frontDoor, isServing: isServing, maxMessageBytes: body)
    }

    /// The key: the file's first line, trimmed; at most 4 KiB read, must not be empty.
    static func readKey(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ValidationError("--api-key-file: cannot read \(path)") }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 4_096)) ?? Data()
        let key = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let key, !key.isEmpty, key.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
            throw ValidationError("--api-key-file: \(path) must hold one line of visible ASCII (the key)")
        }
        return key
    }
}
