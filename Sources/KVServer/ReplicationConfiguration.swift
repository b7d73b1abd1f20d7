// Replication settings of `kvlab serve`, with Redis's names where Redis has them.

/// When a write's reply leaves the primary.
public enum ReplicationAckMode: String, Sendable, CaseIterable {
    /// After the local apply (Redis's only mode).
    case async
    /// After `syncReplicas` replicas acknowledged the write's offset, or an error after `syncTimeoutMilliseconds`.
    case sync
}

/// How a server replicates: as a replica of `replicaOf`, or as a primary that streams its writes.
public struct ReplicationConfiguration: Sendable, Equatable {
    /// `replicaof host port`: start as a replica of this primary; nil = start as a primary.
    public var replicaOf: ReplicationEndpoint?
    /// `repl-backlog-size`: bytes of the stream kept for partial resynchronization (Redis: 1mb, at least 16 KB).
    public var backlogSize: Int = 1 << 20
    /// `--repl-ack async|sync`.
    public var ackMode: ReplicationAckMode = .async
    /// Replicas that must acknowledge a write in sync mode.
    public var syncReplicas: Int = 1
    /// How long a sync-mode write waits for its acknowledgements, in milliseconds.
    public var syncTimeoutMilliseconds: Int = 1000
    /// `min-replicas-to-write` (0 = off) and `min-replicas-max-lag` (seconds).
    public var minReplicasToWrite: Int = 0
    public var minReplicasMaxLagSeconds: Int = 10
    /// `replica-announce-ip` / `replica-announce-port`: the address this replica tells its primary.
    public var announceIP: String?
    public var announcePort: Int?
    /// `bind-source-addr`: the local address of the replication connection; nil = the server's bind address.
    public var bindSourceAddress: String?
    /// How often a replica sends `REPLCONF ACK <offset>`, in milliseconds (Redis: once a second).
    public var ackIntervalMilliseconds: Int = 100
    /// Reconnection backoff of a replica whose link dropped: first delay and ceiling, in milliseconds.
    public var reconnectMinimumMilliseconds: Int = 50
    public var reconnectMaximumMilliseconds: Int = 2000
    /// `repl-ping-replica-period`: a primary with replicas puts a PING in the stream this often
    /// (milliseconds; Redis: 10 s), so an idle link still carries bytes.
    public var pingReplicaPeriodMilliseconds: Int = 10_000
    /// `repl-timeout`: a replica that heard nothing from its primary, or a primary that got no
    /// ACK from a replica, for this long drops the link (milliseconds; Redis: 60 s). A link
    /// through a partition that forwards nothing (a blackhole) is noticed this way.
    public var timeoutMilliseconds: Int = 60_000
    /// Bytes a replica may have waiting on the primary before it is disconnected (Redis's
    /// `client-output-buffer-limit replica 256mb`).
    public var replicaOutputLimit: Int = 256 << 20

    public init() {}
}

/// A primary's address as `host:port`.
public struct ReplicationEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (the last colon separates the port, so `[::1]:6379` and `::1:6379` work).
    /// - Throws: `ReplicationConfigurationError.invalidEndpoint` naming the text.
    public init(parsing text: String) throws(ReplicationConfigurationError) {
        guard let colon = text.lastIndex(of: ":") else { throw .invalidEndpoint(text: text, reason: "expected HOST:PORT") }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .invalidEndpoint(text: text, reason: "the host is empty") }
        guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw .invalidEndpoint(text: text, reason: "the port is not in 1...65535")
        }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A replication setting that cannot be used.
public enum ReplicationConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidEndpoint(text: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidEndpoint(text, reason): "replicaof '\(text)': \(reason)"
        }
    }
}
