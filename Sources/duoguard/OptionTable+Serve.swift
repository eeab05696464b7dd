import ArgumentParser
import Worker

extension OptionTable {
    /// `duoguard serve`'s defaults where they differ from the worker's, or have no
    /// configuration type to come from (serve has no `WorkerConfiguration`); `ServeCommand`
    /// reads them here, so its help, docs and behaviour cannot drift apart.
    enum ServeDefaults {
        /// Smaller than the worker's: synchronous callers wait for the whole batch.
        static let maxBatch = 32
        /// Shorter than the worker's: a caller is waiting, not a topic.
        static let maxWaitMs = 5
        static let maxTextBytes = 65_536
        static let metricsHost = "0.0.0.0"
        static let metricsPort = 9_464
        static let logLevel = "info"
    }

    /// Options of serve's own `@Option`s (their help comes from here, `serveHelp`).
    private static let serveOwn: [Entry] = [
        Entry(flag: "--max-batch", defaultText: "\(ServeDefaults.maxBatch)", meaning: "requests per inference batch, 1 or more"),
        Entry(flag: "--max-wait-ms", defaultText: "\(ServeDefaults.maxWaitMs)", meaning: "max wait for a batch to fill, ms"),
        Entry(flag: "--max-text-bytes", defaultText: "\(ServeDefaults.maxTextBytes)", meaning: "largest accepted text in UTF-8 bytes; larger ones are INVALID_ARGUMENT"),
        Entry(flag: "--metrics-host", defaultText: ServeDefaults.metricsHost, meaning: "address /metrics, /healthz, /readyz bind to"),
        Entry(flag: "--metrics-port", defaultText: "\(ServeDefaults.metricsPort)", meaning: "port of /metrics, /healthz, /readyz, 0...65535 (0: any free port)"),
        Entry(flag: "--worker-id", defaultText: "hostname-pid", meaning: "worker id reported in every result"),
        Entry(flag: "--log-level", defaultText: ServeDefaults.logLevel, meaning: "log level: trace, debug, info, notice, warning, error"),
    ]

    /// Flags serve shares with the worker through the same option groups (model, scoring, API):
    /// one `@Option` each, so one help, the worker's entry.
    private static let serveShared = [
        "--model", "--threads", "--batch-tokens", "--packed-weights", "--weight-format", "--max-tokens", "--long-text",
        "--window-overlap", "--max-windows", "--threshold", "--category-threshold", "--category-thresholds", "--http-host",
        "--http-port", "--api-key-file", "--max-sync-requests", "--max-sync-bytes", "--sync-fill-tokens", "--max-http-body-bytes",
        "--grpc-host", "--grpc-port", "--max-http-connections",
    ]

    /// Every option of `duoguard serve`, in docs/operations.md's order (`duoguard options --command serve`).
    static let serveEntries: [Entry] = serveShared.compactMap(entry) + serveOwn

    private static let serveHelpTexts: [String: String] = Dictionary(
        serveOwn.map { ($0.flag, $0.help) }, uniquingKeysWith: { first, _ in first })

    /// The help of one of serve's own `@Option`s, from its entry.
    static func serveHelp(_ flag: String) -> ArgumentHelp {
        ArgumentHelp(serveHelpTexts[flag] ?? "(no entry in OptionTable.serveEntries for \(flag))")
    }
}
