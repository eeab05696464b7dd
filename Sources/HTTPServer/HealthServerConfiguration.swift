/// Limits of the health/metrics server (`/metrics`, `/healthz`, `/readyz`).
///
/// Every client of this port is assumed hostile: the defaults keep probes answered while
/// hundreds of idle or slow connections are open, bound what one connection can make the
/// server hold in memory, and bound how long any connection lives.
public struct HealthServerConfiguration: Sendable, Equatable {
    /// What to do with a new connection when `maxConnections` are already open.
    public enum WhenFull: String, Sendable, Equatable {
        /// Close the connection that has been open longest, then serve the new one.
        ///
        /// A probe connects, asks and is answered within milliseconds; a flood of idle
        /// connections is always older. So probes keep being answered while the cap is full,
        /// unless `maxConnections` new connections arrive during one probe.
        case closeOldest
        /// Close the new connection at once (the kernel completed its handshake, so the peer
        /// sees the connection accepted and then closed). While the cap is full, probes are
        /// refused too, until deadlines free slots.
        case refuseNew
    }

    /// Most connections open at once; the rest are handled by `whenFull`. Default: 256.
    ///
    /// Each open connection costs one file descriptor and a few KiB; 256 leaves room for a
    /// scraper, the kubelet and a crowd of slow clients.
    public var maxConnections: Int
    /// Default: `.closeOldest` (probes keep being answered under a connection flood).
    public var whenFull: WhenFull
    /// Time a connection has to deliver a complete request head, counted from its accept or
    /// from the end of its previous response. Default: 5 s.
    ///
    /// This is the slowloris bound: a client that trickles bytes, or sends nothing, or keeps
    /// an idle keep-alive connection, is closed after it (a partial request gets `408`). The
    /// kubelet's and Prometheus's requests arrive whole in a single packet.
    public var requestTimeout: Duration
    /// Time to hand one response to the peer; a peer that does not read is closed. Default: 5 s.
    public var writeTimeout: Duration
    /// Largest request head (request line and headers) in bytes; larger gets `431` and the
    /// connection is closed. Default: 8 KiB (probes and scrapes send a few hundred bytes).
    ///
    /// Counted on the raw bytes read while a request is incomplete, so whitespace or
    /// pipelined requests beyond it count too: at most this much input is buffered per
    /// connection.
    public var maxRequestHeadBytes: Int
    /// Requests served on one keep-alive connection before it is closed (`Connection:
    /// close` on the last response). Default: 100.
    public var maxRequestsPerConnection: Int
    /// Upper bound of `stop()`/`shutdown()`, even when connections do not close. Default: 2 s.
    public var stopTimeout: Duration
    /// Largest request body in bytes, for POST requests to a server with a body handler (the
    /// API routes); 0 (the default, and always for a server without one): bodies are refused
    /// (`413`). A larger announced body gets `413` at its head; bodies must announce their
    /// length (`411` for chunked ones). The request deadline (`requestTimeout`) covers the
    /// body too, so a client trickling a body is closed like one trickling a head.
    public var maxBodyBytes: Int = 0
    /// Listen backlog (connections the kernel queues before they are accepted; capped by
    /// `net.core.somaxconn`). Default: 256, so a burst of connections is queued rather than
    /// dropped (a dropped SYN costs the client a 1 s retransmit).
    public var backlog: Int

    public init(
        maxConnections: Int = 256, whenFull: WhenFull = .closeOldest, requestTimeout: Duration = .seconds(5),
        writeTimeout: Duration = .seconds(5), maxRequestHeadBytes: Int = 8_192, maxRequestsPerConnection: Int = 100,
        stopTimeout: Duration = .seconds(2), backlog: Int = 256
    ) {
        self.maxConnections = maxConnections
        self.whenFull = whenFull
        self.requestTimeout = requestTimeout
        self.writeTimeout = writeTimeout
        self.maxRequestHeadBytes = maxRequestHeadBytes
        self.maxRequestsPerConnection = maxRequestsPerConnection
        self.stopTimeout = stopTimeout
        self.backlog = backlog
    }

    /// A description of the first invalid value, or nil when all are usable.
    public func validationError() -> String? {
        if maxConnections < 1 { return "maxConnections must be at least 1 (got \(maxConnections))" }
        if maxRequestHeadBytes < 64 { return "maxRequestHeadBytes must be at least 64 (got \(maxRequestHeadBytes))" }
        if maxRequestsPerConnection < 1 { return "maxRequestsPerConnection must be at least 1 (got \(maxRequestsPerConnection))" }
        if maxBodyBytes < 0 || maxBodyBytes > 64 << 20 { return "maxBodyBytes must be in 0...64 MiB (got \(maxBodyBytes))" }
        if !(1...65_535).contains(backlog) { return "backlog must be in 1...65535 (got \(backlog))" }
        for (name, value) in [("requestTimeout", requestTimeout), ("writeTimeout", writeTimeout), ("stopTimeout", stopTimeout)]
        where value <= .zero || value > .seconds(3_600) {
            return "\(name) must be in (0, 1 h] (got \(value))"
        }
        return nil
    }
}
