// What the server knows about one client connection; the commands read and change it.

import RESP

/// Per-connection state: identity, protocol version, authentication, and counters that the
/// transport hands over to the server's statistics in batches (one shared atomic update per
/// read, not per command).
public struct ConnectionState: Sendable {
    /// CLIENT ID: unique and increasing over the server's life.
    public let id: Int64
    /// CLIENT SETNAME.
    public var name: String?
    /// RESP2 until `HELLO 3`.
    public var protocolVersion: RESPVersion = .resp2
    /// True when no password is required, or after a successful AUTH/HELLO AUTH.
    public var authenticated: Bool
    /// Set by QUIT (and fatal errors): the transport closes after writing the reply.
    public var shouldClose = false
    /// The peer address, for CLIENT INFO and logs.
    public var peer: String

    /// Commands executed since the transport last collected the counters.
    public var pendingCommands = 0
    public var pendingHits = 0
    public var pendingMisses = 0
    /// Write commands run since the last durability barrier (`CommandExecutor.completeWrites`).
    public var unsyncedWriteCommands = 0

    /// The key stripes this connection's current command holds (see `Keyspace`, threading model).
    var heldStripes: [Int] = []
    /// Commands queued since MULTI; nil outside a transaction.
    var queued: [RESPCommand]?
    /// A command was refused while queueing: EXEC answers EXECABORT.
    var transactionFailed = false
    /// WATCHed keys and what EXEC compares.
    var watched: [WatchedKey] = []

    /// Replication: the stream offset after this connection's last write (WAIT waits for it).
    public var lastWriteOffset: Int64 = 0
    /// Set by WAIT and sync-mode writes: the transport parks the reply until the acks arrive.
    public var waitRequest: ReplicationWaitRequest?
    /// On a primary, the stream of the replica this connection became after PSYNC.
    var replicaFeed: ReplicaFeed?
    /// What the replica announced with REPLCONF listening-port / ip-address.
    var replicaListeningPort: Int?
    var replicaAnnouncedIP: String?

    /// Reused scratch space for engine keys and values, so commands do not allocate.
    var keyScratch: [UInt8] = []
    var valueScratch: [UInt8] = []
    var auxScratch: [UInt8] = []

    public init(id: Int64, authenticated: Bool, peer: String = "") {
        self.id = id
        self.authenticated = authenticated
        self.peer = peer
        keyScratch.reserveCapacity(256)
        heldStripes.reserveCapacity(4)
        valueScratch.reserveCapacity(1024)
    }
}

/// A key under WATCH: EXEC aborts if its slot's write version moved, if it had a deadline that
/// has passed since, or if a FLUSHALL ran while it existed.
struct WatchedKey: Sendable {
    var key: [UInt8]
    var version: UInt64
    var flushEpoch: UInt64
    var existed: Bool
    var expiresAt: Int64?
}
