// One server's replication state: role, replication ids and offsets, the backlog, its replicas, and the clients waiting for their acks.

import KVCore
import Logging
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// What `WAIT` or a sync-mode write asks the transport to wait for.
public struct ReplicationWaitRequest: Sendable {
    public enum Kind: Sendable {
        /// WAIT: reply with the number of replicas reached.
        case wait
        /// A write under `--repl-ack sync`: its reply (held back), or an error when too few acked in time.
        case syncWrite(reply: [UInt8])
    }
    public var targetOffset: Int64
    public var replicasNeeded: Int
    /// 0 = no timeout (WAIT's meaning).
    public var timeoutMilliseconds: Int
    public var kind: Kind
}

/// The replication side of a server (Redis's `replication.c`, over kvlab's stream).
///
/// Locks, in order: the replication order lock (`writeOrder`, held by every write command
/// across its execution and the append of its unit, and by PSYNC across its snapshot), then
/// the keyspace's command lock, then key stripes; `state` is a leaf mutex, never held while
/// taking another lock except a feed's own.
public final class ReplicationController: Sendable {
    enum Role: Sendable, Equatable {
        case primary
        case replica(ReplicationEndpoint)
    }

    /// A replica's link to its primary, as ROLE names it.
    enum LinkState: String, Sendable {
        case connect, connecting, sync, connected
    }

    /// A replica connected to this server.
    struct ConnectedReplica {
        var feed: ReplicaFeed
        var ip: String
        var port: Int
        var ackOffset: Int64 = 0
        var lastAckMilliseconds: Int64
        var online = false
        /// Last ACK or keep-alive newline: what repl-timeout measures. A replica loading a big
        /// snapshot sends newlines (as Redis's does) but no ACK, since it has no offset to
        /// claim yet; min-replicas and WAIT still count only ACKs.
        var lastHeardMilliseconds: Int64 = 0
        /// The snapshot is still on its way (the PSYNC reply's bytes are not all written):
        /// repl-timeout starts when it is, since the primary stops reading a connection whose
        /// output is that far behind and would not see the replica's keep-alives meanwhile.
        var transferring = false
    }

    struct Waiter {
        var targetOffset: Int64
        var replicasNeeded: Int
        var complete: @Sendable (Int) -> Void
    }

    struct State {
        var role: Role = .primary
        var replicationID: String
        var replicationID2 = String(repeating: "0", count: 40)
        var secondOffset: Int64 = -1
        var backlog: ReplicationBacklog
        var replicas: [Int: ConnectedReplica] = [:]
        var waiters: [Int: Waiter] = [:]
        var nextID = 1
        /// A GETACK went out since the last unit (WAIT sends one per batch, as Redis per event-loop turn).
        var getAckSinceLastUnit = false
        // Replica side.
        var linkState: LinkState = .connect
        var linkGeneration = 0
        var linkChannel: (any Channel)?
        var lastIOMilliseconds: Int64 = 0
        var linkDownSinceMilliseconds: Int64?
        var reconnectDelayMilliseconds: Int
        var group: (any EventLoopGroup)?
        var stopped = false
        /// Whether this server's data belongs to a replication history worth resuming: false
        /// for a server started as a replica that never synced (it sends `PSYNC ? -1`, as Redis).
        var hasHistory = true
        var lastPingMilliseconds: Int64 = 0
        var cronTask: RepeatedTask?
        // Counters (INFO stats, Redis's names).
        var syncFull = 0
        var syncPartialOK = 0
        var syncPartialError = 0
        var replicaFullSyncs = 0
        var replicaPartialSyncs = 0
    }

    let state: Mutex<State>
    /// Serializes write commands with the append of their units (see the type's doc).
    let writeOrder = Lock()
    public let configuration: ReplicationConfiguration
    let keyspace: Keyspace
    let clock: any WallClock
    let logger: Logger
    let serverHost: String
    let boundPort: AtomicPort
    let random: Mutex<SeededRandom>
    /// INFO server's `run_id`: names this process (Sentinel tells nodes apart and breaks ties by it).
    public let runID: String

    init(configuration: ReplicationConfiguration, keyspace: Keyspace, clock: any WallClock, logger: Logger,
         serverHost: String, boundPort: AtomicPort, seed: UInt64) {
        self.configuration = configuration
        self.keyspace = keyspace
        self.clock = clock
        self.logger = logger
        self.serverHost = serverHost
        self.boundPort = boundPort
        var generator = SeededRandom(seed: seed ^ 0x7265_706c_6964_0001)
        let id = Self.makeReplicationID(&generator)
        runID = Self.makeReplicationID(&generator)
        random = Mutex(generator)
        var initial = State(replicationID: id, backlog: ReplicationBacklog(capacity: max(configuration.backlogSize, 16 * 1024), endOffset: 0),
                            reconnectDelayMilliseconds: configuration.reconnectMinimumMilliseconds)
        if let primary = configuration.replicaOf {
            initial.role = .replica(primary)
            initial.hasHistory = false
            keyspace.mutations.capturing.store(false, ordering: .relaxed)
        }
        state = Mutex(initial)
    }

    static func makeReplicationID(_ generator: inout SeededRandom) -> String {
        var text = ""
        while text.count < 40 {
            let word = generator.next()
            let hex = String(word, radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return String(text.prefix(40))
    }

    // MARK: Role

    /// True on a replica: client writes get `-READONLY`.
    public var isReplica: Bool { state.withLock { $0.role != .primary } }

    /// The stream offset (Redis's `master_repl_offset`).
    public var offset: Int64 { state.withLock { $0.backlog.endOffset } }

    /// Why a client's write is refused now, or nil: READONLY on a replica, NOREPLICAS when
    /// min-replicas-to-write is not met.
    func writeRefusal() -> String? {
        let now = clock.millisecondsSinceEpoch()
        return state.withLock { s in
            if s.role != .primary { return "READONLY You can't write against a read only replica." }
            if configuration.minReplicasToWrite > 0 && goodReplicas(s, now: now) < configuration.minReplicasToWrite {
                return "NOREPLICAS Not enough good replicas to write."
            }
            return nil
        }
    }

    /// Online replicas whose last ACK is at most `min-replicas-max-lag` seconds old.
    private func goodReplicas(_ s: State, now: Int64) -> Int {
        s.replicas.values.filter { $0.online && (now - $0.lastAckMilliseconds) / 1000 <= Int64(configuration.minReplicasMaxLagSeconds) }.count
    }

    // MARK: The stream (primary side)

    /// Appends one unit to the stream. The caller holds `writeOrder`.
    func append(_ bytes: [UInt8]) {
        state.withLock { s in
            s.backlog.append(bytes)
            s.getAckSinceLastUnit = false
            for r in s.replicas.values { r.feed.send(bytes, limit: configuration.replicaOutputLimit) }
        }
    }

    /// Ships what the engine captured since the last unit. The caller holds `writeOrder`.
    func shipCapturedMutations() {
        let ops = keyspace.mutations.drain()
        if !ops.isEmpty { append(ReplicationStream.encode(ops)) }
    }

    /// Runs `body` holding the replication order lock.
    func withWriteOrder<R>(_ body: () -> R) -> R {
        writeOrder.lock()
        defer { writeOrder.unlock() }
        return body()
    }

    /// PSYNC on the primary: `+CONTINUE` and the missing bytes when `(replid, offset)` is in
    /// this server's history and backlog, else `+FULLRESYNC`, a snapshot and the stream from
    /// its offset. The caller holds `writeOrder` and the command lock (shared), so no write
    /// runs between the snapshot and the registration of the feed.
    func psync(replicationID: String, offset requested: Int64, listeningPort: Int, ip: String,
               reply: inout Reply) -> ReplicaFeed {
        shipCapturedMutations()
        let now = clock.millisecondsSinceEpoch()
        let feed = ReplicaFeed()
        // The check, the bytes and the registration happen under one lock: a PING or GETACK
        // appended in between (they take only this lock) would otherwise reach neither.
        let partial: (String, [UInt8])? = state.withLock { s in
            let known = replicationID == s.replicationID || (replicationID == s.replicationID2 && requested <= s.secondOffset)
            guard known, s.backlog.holds(from: requested) else {
                if replicationID != "?" { s.syncPartialError += 1 }
                return nil
            }
            s.syncPartialOK += 1
            register(feed, ip: ip, port: listeningPort, now: now, &s)
            return (s.replicationID, s.backlog.bytes(from: requested))
        }
        if let (id, bytes) = partial {
            reply.simple("CONTINUE \(id)")
            reply.buffer.writeBytes(bytes)
            return feed
        }
        let snapshot: [UInt8]
        do {
            snapshot = try keyspace.withEngine { (e) throws(EngineError) in try ReplicationStream.snapshot(of: e) }
        } catch {
            reply.error("ERR cannot build the replication snapshot: \(error)")
            feed.close()
            return feed
        }
        // No write ran since the snapshot (the caller holds the order lock); PINGs may have.
        let (id, offset) = state.withLock { s in
            s.syncFull += 1
            register(feed, ip: ip, port: listeningPort, now: now, transferring: true, &s)
            return (s.replicationID, s.backlog.endOffset)
        }
        reply.simple("FULLRESYNC \(id) \(offset)")
        reply.buffer.writeString("$\(snapshot.count)\r\n")
        reply.buffer.writeBytes(snapshot)
        return feed
    }

    private func register(_ feed: ReplicaFeed, ip: String, port: Int, now: Int64, transferring: Bool = false, _ s: inout State) {
        feed.id = s.nextID
        s.nextID += 1
        s.replicas[feed.id] = ConnectedReplica(feed: feed, ip: ip, port: port, lastAckMilliseconds: now, online: true,
                                                  lastHeardMilliseconds: now, transferring: transferring)
    }

    /// The PSYNC reply (with its snapshot) has been written to the replica's socket.
    func transferDone(_ feed: ReplicaFeed) {
        let now = clock.millisecondsSinceEpoch()
        state.withLock { s in
            guard s.replicas[feed.id]?.transferring == true else { return }
            s.replicas[feed.id]?.transferring = false
            s.replicas[feed.id]?.lastHeardMilliseconds = now
        }
    }

    /// A replica's connection closed.
    func detach(_ feed: ReplicaFeed) {
        feed.close()
        state.withLock { _ = $0.replicas.removeValue(forKey: feed.id) }
    }

    /// `REPLCONF ACK <offset>` from a replica.
    func acknowledge(_ feed: ReplicaFeed, offset: Int64) {
        let now = clock.millisecondsSinceEpoch()
        let ready: [(Waiter, Int)] = state.withLock { s in
            guard var r = s.replicas[feed.id] else { return [] }
            r.ackOffset = max(r.ackOffset, offset)
            r.lastAckMilliseconds = now
            r.lastHeardMilliseconds = now
            r.online = true
            s.replicas[feed.id] = r
            return takeSatisfiedWaiters(&s)
        }
        for (w, count) in ready { w.complete(count) }
    }

    /// An empty line from a replica (Redis's `replicationSendNewlineToMaster`): it is alive but
    /// busy loading a snapshot, so repl-timeout must not drop it. Claims no offset.
    func keepAlive(_ feed: ReplicaFeed) {
        let now = clock.millisecondsSinceEpoch()
        state.withLock { s in s.replicas[feed.id]?.lastHeardMilliseconds = now }
    }

    private func acked(_ s: State, _ target: Int64) -> Int {
        s.replicas.values.filter { $0.online && $0.ackOffset >= target }.count
    }

    private func takeSatisfiedWaiters(_ s: inout State) -> [(Waiter, Int)] {
        var ready: [(Waiter, Int)] = []
        for (id, w) in s.waiters {
            let count = acked(s, w.targetOffset)
            if count >= w.replicasNeeded {
                ready.append((w, count))
                s.waiters.removeValue(forKey: id)
            }
        }
        return ready
    }

    /// What `wait` did: answered at once, or registered a waiter (`cancelWait` drops it).
    enum WaitRegistration: Equatable {
        case reached(Int)
        case parked(id: Int)
    }

    /// Registers a wait for `needed` replicas to ack `target`. Returns the count at once when
    /// it is already reached (nothing registered), else the waiter's id: `complete` runs later,
    /// once, from an ack or from the timeout on `eventLoop`, unless `cancelWait` drops it first.
    func wait(target: Int64, needed: Int, timeoutMilliseconds: Int, eventLoop: any EventLoop,
              complete: @escaping @Sendable (Int) -> Void) -> WaitRegistration {
        let registered: Int? = state.withLock { s in
            let count = acked(s, target)
            if count >= needed { return nil }
            let id = s.nextID
            s.nextID += 1
            s.waiters[id] = Waiter(targetOffset: target, replicasNeeded: needed, complete: complete)
            // Ask for acks now rather than at the next periodic one.
            if !s.getAckSinceLastUnit && !s.replicas.isEmpty {
                s.getAckSinceLastUnit = true
                s.backlog.append(ReplicationStream.getAck)
                for r in s.replicas.values { r.feed.send(ReplicationStream.getAck, limit: configuration.replicaOutputLimit) }
            }
            return id
        }
        guard let id = registered else { return .reached(state.withLock { acked($0, target) }) }
        if timeoutMilliseconds > 0 {
            eventLoop.scheduleTask(in: .milliseconds(Int64(timeoutMilliseconds))) { [self] in
                let expired: (Waiter, Int)? = state.withLock { s in
                    guard let w = s.waiters.removeValue(forKey: id) else { return nil }
                    return (w, acked(s, w.targetOffset))
                }
                if let (w, count) = expired { w.complete(count) }
            }
        }
        return .parked(id: id)
    }

    /// Drops a waiter whose client is gone, without completing it: `WAIT n 0` waits forever,
    /// and a disconnected client's waiter (and the connection its closure holds) would stay.
    func cancelWait(_ id: Int) {
        _ = state.withLock { $0.waiters.removeValue(forKey: id) }
    }

    /// Waiters registered and not yet completed (tests).
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// The count of replicas that acked `target` now (WAIT outside a transport).
    func ackedCount(_ target: Int64) -> Int { state.withLock { acked($0, target) } }

    /// Completes every waiter with its current count (role change, shutdown).
    private func releaseWaiters() {
        let all: [(Waiter, Int)] = state.withLock { s in
            let list = s.waiters.values.map { ($0, acked(s, $0.targetOffset)) }
            s.waiters.removeAll()
            return list
        }
        for (w, count) in all { w.complete(count) }
    }

    // MARK: Role changes

    /// REPLICAOF NO ONE: a primary with a new replication id, keeping the old one as replid2
    /// (valid up to this offset + 1) so the old primary's other replicas resync partially.
    func becomePrimary() {
        withWriteOrder {
            let channel: (any Channel)? = state.withLock { s in
                guard s.role != .primary else { return nil }
                s.role = .primary
                s.linkGeneration += 1
                s.linkState = .connect
                let id = random.withLock { Self.makeReplicationID(&$0) }
                s.replicationID2 = s.replicationID
                s.secondOffset = s.backlog.endOffset + 1
                s.replicationID = id
                let c = s.linkChannel
                s.linkChannel = nil
                return c
            }
            channel?.close(promise: nil)
            keyspace.mutations.discard()
            keyspace.mutations.capturing.store(true, ordering: .relaxed)
        }
        logger.info("replication: now a primary (REPLICAOF NO ONE)")
    }

    /// REPLICAOF host port: becomes (or re-points) a replica; connected replicas are dropped
    /// so they resynchronize through this server's new history.
    func becomeReplica(of primary: ReplicationEndpoint) throws(ReplicationError) {
        let group = state.withLock { $0.group }
        guard let group else { throw .handshake("REPLICAOF needs a running server (no event loops yet)") }
        let (feeds, oldChannel, generation): ([ReplicaFeed], (any Channel)?, Int) = withWriteOrder {
            shipCapturedMutations()  // whatever this primary wrote last still reaches its replicas' backlogs
            keyspace.mutations.capturing.store(false, ordering: .relaxed)
            keyspace.mutations.discard()
            return state.withLock { s in
                s.role = .replica(primary)
                s.linkGeneration += 1
                s.linkState = .connect
                s.reconnectDelayMilliseconds = configuration.reconnectMinimumMilliseconds
                s.linkDownSinceMilliseconds = clock.millisecondsSinceEpoch()
                let feeds = s.replicas.values.map(\.feed)
                s.replicas.removeAll()
                let c = s.linkChannel
                s.linkChannel = nil
                return (feeds, c, s.linkGeneration)
            }
        }
        for f in feeds { f.close() }
        oldChannel?.close(promise: nil)
        releaseWaiters()
        connect(generation: generation, group: group, after: 0)
    }

    /// Starts replication once the server's event loops exist (a replica connects) and the
    /// periodic duties (`cron`).
    func start(group: any EventLoopGroup) {
        let target: (ReplicationEndpoint, Int)? = state.withLock { s in
            s.group = group
            if case .replica(let p) = s.role { return (p, s.linkGeneration) }
            return nil
        }
        if let (_, generation) = target { connect(generation: generation, group: group, after: 0) }
        let task = group.next().scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { [self] _ in cron() }
        state.withLock { $0.cronTask = task }
    }

    /// Every 100 ms (Redis's `replicationCron` runs every second): ship mutations that expiry
    /// made since the last write, PING idle replicas every `repl-ping-replica-period`, and drop
    /// links silent for longer than `repl-timeout`, on both sides.
    func cron() {
        let now = clock.millisecondsSinceEpoch()
        if !isReplica { withWriteOrder { shipCapturedMutations() } }
        let (silentReplicas, silentLink): ([ReplicaFeed], (any Channel)?) = state.withLock { s in
            guard !s.stopped else { return ([], nil) }
            if s.role == .primary && !s.replicas.isEmpty && now - s.lastPingMilliseconds >= Int64(configuration.pingReplicaPeriodMilliseconds) {
                s.lastPingMilliseconds = now
                s.backlog.append(ReplicationStream.ping)
                for r in s.replicas.values { r.feed.send(ReplicationStream.ping, limit: configuration.replicaOutputLimit) }
            }
            let timeout = Int64(configuration.timeoutMilliseconds)
            let silent = s.replicas.values.filter { !$0.transferring && now - $0.lastHeardMilliseconds > timeout }.map(\.feed)
            var link: (any Channel)? = nil
            if case .replica = s.role, s.linkState == .connected || s.linkState == .sync, now - s.lastIOMilliseconds > timeout {
                link = s.linkChannel
            }
            return (silent, link)
        }
        for f in silentReplicas {
            logger.warning("replication: disconnecting a replica that sent no ACK within repl-timeout")
            f.close()
        }
        if let silentLink {
            logger.warning("replication: no data from the primary within repl-timeout; dropping the link")
            silentLink.close(promise: nil)
        }
    }

    /// Closes every replica's connection (they reconnect and resync): tests of link drops.
    func disconnectReplicas() {
        let feeds = state.withLock { s in s.replicas.values.map(\.feed) }
        for f in feeds { f.close() }
    }

    /// Stops the link and the waiters (server shutdown).
    func stop() {
        let channel = state.withLock { s -> (any Channel)? in
            s.stopped = true
            s.cronTask?.cancel()
            s.cronTask = nil
            s.linkGeneration += 1
            let c = s.linkChannel
            s.linkChannel = nil
            return c
        }
        channel?.close(promise: nil)
        let feeds = state.withLock { s in s.replicas.values.map(\.feed) }
        for f in feeds { f.close() }
        releaseWaiters()
    }

    // MARK: Replica side

    /// The local address replication connections are bound to: `bind-source-addr`, else the
    /// server's bind address when it is one specific IP (as Redis's NET_FIRST_BIND_ADDR).
    var sourceAddress: String? {
        if let a = configuration.bindSourceAddress { return a }
        if ["0.0.0.0", "::", "*", "localhost", ""].contains(serverHost) { return nil }
        return serverHost
    }

    func connect(generation: Int, group: any EventLoopGroup, after delayMilliseconds: Int) {
        let loop = group.next()
        loop.scheduleTask(in: .milliseconds(Int64(delayMilliseconds))) { [self] in
            let target: ReplicationEndpoint? = state.withLock { s in
                guard !s.stopped, s.linkGeneration == generation, case .replica(let p) = s.role else { return nil }
                s.linkState = .connecting
                return p
            }
            guard let target else { return }
            var bootstrap = ClientBootstrap(group: loop)
                .connectTimeout(.milliseconds(2000))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ReplicaLinkHandler(controller: self, generation: generation))
                    }
                }
            if let source = sourceAddress {
                do { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) } catch {
                    logger.error("replication: bind-source-addr \(source) is not an IP address: \(error)")
                }
            }
            bootstrap.connect(host: target.host, port: target.port).whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    let current = state.withLock { s -> Bool in
                        guard s.linkGeneration == generation else { return false }
                        s.linkChannel = channel
                        return true
                    }
                    if !current { channel.close(promise: nil) }
                case .failure(let error):
                    logger.info("replication: cannot connect to the primary", metadata: ["primary": "\(target)", "error": "\(error)"])
                    linkDown(generation: generation)
                }
            }
        }
    }

    /// The link of `generation` dropped: reconnect after the backoff.
    func linkDown(generation: Int) {
        let retry: (any EventLoopGroup, Int)? = state.withLock { s in
            guard s.linkGeneration == generation, !s.stopped, case .replica = s.role else { return nil }
            s.linkGeneration += 1
            s.linkChannel = nil
            s.linkState = .connect
            if s.linkDownSinceMilliseconds == nil { s.linkDownSinceMilliseconds = clock.millisecondsSinceEpoch() }
            let delay = s.reconnectDelayMilliseconds
            s.reconnectDelayMilliseconds = min(configuration.reconnectMaximumMilliseconds, max(1, delay * 2))
            guard let group = s.group else { return nil }
            return (group, delay)
        }
        if let (group, delay) = retry {
            let generation = state.withLock { $0.linkGeneration }
            connect(generation: generation, group: group, after: delay)
        }
    }

    /// Whether the link of `generation` is still the current one.
    func isCurrent(_ generation: Int) -> Bool { state.withLock { $0.linkGeneration == generation && !$0.stopped } }

    /// What the replica sends after the handshake: its history's id and the next offset it needs.
    func psyncArguments() -> (String, Int64) {
        state.withLock { $0.hasHistory ? ($0.replicationID, $0.backlog.endOffset + 1) : ("?", -1) }
    }

    func setLinkState(_ link: LinkState, generation: Int) {
        state.withLock { s in
            guard s.linkGeneration == generation else { return }
            s.linkState = link
            s.lastIOMilliseconds = clock.millisecondsSinceEpoch()
            if link == .connected {
                s.linkDownSinceMilliseconds = nil
                s.reconnectDelayMilliseconds = configuration.reconnectMinimumMilliseconds
            }
        }
    }

    func noteIO(generation: Int) {
        let now = clock.millisecondsSinceEpoch()
        state.withLock { s in if s.linkGeneration == generation { s.lastIOMilliseconds = now } }
    }

    /// +FULLRESYNC: replaces the dataset with `snapshot` and adopts the primary's history.
    /// `keepAlive` runs every `ackIntervalMilliseconds` of loading: a load longer than
    /// repl-timeout otherwise had the primary drop this replica and the replica its link, so a
    /// big dataset resynced fully forever (found by attack 1b, results/hostile-attacks.md).
    func loadSnapshot(_ snapshot: [UInt8], replicationID: String, offset: Int64, generation: Int,
                      keepAlive: () -> Void = {}) throws(ReplicationError) {
        try withWriteOrderThrowing { () throws(ReplicationError) in
            guard isCurrent(generation) else { return }
            let interval = Int64(max(1, configuration.ackIntervalMilliseconds))
            var last = clock.millisecondsSinceEpoch()
            try keyspace.withCommandLock(exclusive: true) { () throws(ReplicationError) in
                try keyspace.heldLoadSnapshot(snapshot) {
                    let now = clock.millisecondsSinceEpoch()
                    guard now - last >= interval else { return }
                    last = now
                    noteIO(generation: generation)
                    keepAlive()
                }
            }
            noteIO(generation: generation)
            let feeds: [ReplicaFeed] = state.withLock { s in
                s.replicationID = replicationID
                s.replicationID2 = String(repeating: "0", count: 40)
                s.secondOffset = -1
                s.backlog.reset(endOffset: offset)
                s.hasHistory = true
                s.replicaFullSyncs += 1
                // Sub-replicas followed the old history: they must resync.
                let f = s.replicas.values.map(\.feed)
                s.replicas.removeAll()
                return f
            }
            for f in feeds { f.close() }
        }
    }

    /// +CONTINUE <id>: the primary's history continues ours; a new id (the primary was
    /// promoted) becomes ours, the old one replid2, as Redis's psync2.
    func continuePartial(replicationID: String?, generation: Int) {
        state.withLock { s in
            guard s.linkGeneration == generation else { return }
            s.replicaPartialSyncs += 1
            if let id = replicationID, id != s.replicationID {
                s.replicationID2 = s.replicationID
                s.secondOffset = s.backlog.endOffset + 1
                s.replicationID = id
            }
        }
    }

    /// Applies one command of the primary's stream (`raw` is its bytes) and appends it to this
    /// server's own backlog, so offsets stay equal to the primary's.
    func applyFromPrimary(_ command: RESPCommand, raw: [UInt8], generation: Int) throws(ReplicationError) {
        try withWriteOrderThrowing { () throws(ReplicationError) in
            guard isCurrent(generation) else { return }
            if CommandExecutor.lowercasedName(command) == "replapply" {
                let ops = try ReplicationStream.decode(command)
                try keyspace.withCommandLock(exclusive: true) { () throws(ReplicationError) in
                    do throws(EngineError) { try keyspace.heldApplyReplicated(ops) } catch { throw .engine(error) }
                }
            }
            state.withLock { s in
                s.backlog.append(raw)
                for r in s.replicas.values { r.feed.send(raw, limit: configuration.replicaOutputLimit) }
            }
        }
    }

    private func withWriteOrderThrowing(_ body: () throws(ReplicationError) -> Void) throws(ReplicationError) {
        writeOrder.lock()
        defer { writeOrder.unlock() }
        try body()
    }

    // MARK: INFO and ROLE

    /// INFO replication, with Redis 7's field names.
    func infoLines() -> [String] {
        let now = clock.millisecondsSinceEpoch()
        return state.withLock { s in
            var lines = ["# Replication"]
            switch s.role {
            case .primary:
                lines.append("role:master")
            case .replica(let p):
                lines += ["role:slave", "master_host:\(p.host)", "master_port:\(p.port)",
                          "master_link_status:\(s.linkState == .connected ? "up" : "down")",
                          "master_last_io_seconds_ago:\(s.linkState == .connected ? (now - s.lastIOMilliseconds) / 1000 : -1)",
                          "master_sync_in_progress:\(s.linkState == .sync ? 1 : 0)",
                          "slave_read_repl_offset:\(s.backlog.endOffset)",
                          "slave_repl_offset:\(s.backlog.endOffset)"]
                if let down = s.linkDownSinceMilliseconds { lines.append("master_link_down_since_seconds:\((now - down) / 1000)") }
                lines += ["slave_priority:100", "slave_read_only:1", "replica_announced:1"]
            }
            lines.append("connected_slaves:\(s.replicas.count)")
            if configuration.minReplicasToWrite > 0 { lines.append("min_slaves_good_slaves:\(goodReplicas(s, now: now))") }
            for (i, r) in s.replicas.values.sorted(by: { $0.feed.id < $1.feed.id }).enumerated() {
                lines.append("slave\(i):ip=\(r.ip),port=\(r.port),state=\(r.online ? "online" : "wait_bgsave"),offset=\(r.ackOffset),lag=\((now - r.lastAckMilliseconds) / 1000)")
            }
            lines += ["master_failover_state:no-failover", "master_replid:\(s.replicationID)", "master_replid2:\(s.replicationID2)",
                      "master_repl_offset:\(s.backlog.endOffset)", "second_repl_offset:\(s.secondOffset)",
                      "repl_backlog_active:1", "repl_backlog_size:\(s.backlog.capacity)",
                      "repl_backlog_first_byte_offset:\(s.backlog.firstByteOffset)", "repl_backlog_histlen:\(s.backlog.historyLength)"]
            return lines
        }
    }

    /// Redis's INFO stats counters for synchronization.
    func statsLines() -> [String] {
        state.withLock { s in
            ["sync_full:\(s.syncFull)", "sync_partial_ok:\(s.syncPartialOK)", "sync_partial_err:\(s.syncPartialError)",
             "kvlab_replica_full_syncs:\(s.replicaFullSyncs)", "kvlab_replica_partial_syncs:\(s.replicaPartialSyncs)"]
        }
    }

    /// ROLE: `[master, offset, [[ip, port, offset]...]]` or `[slave, host, port, state, offset]`.
    func roleReply(_ reply: inout Reply) {
        state.withLock { s in
            switch s.role {
            case .primary:
                reply.arrayHeader(3)
                reply.bulk("master")
                reply.integer(s.backlog.endOffset)
                let replicas = s.replicas.values.sorted(by: { $0.feed.id < $1.feed.id })
                reply.arrayHeader(replicas.count)
                for r in replicas {
                    reply.arrayHeader(3)
                    reply.bulk(r.ip)
                    reply.bulk(String(r.port))
                    reply.bulk(String(r.ackOffset))
                }
            case .replica(let p):
                reply.arrayHeader(5)
                reply.bulk("slave")
                reply.bulk(p.host)
                reply.integer(p.port)
                reply.bulk(s.linkState.rawValue)
                reply.integer(s.linkState == .connected ? s.backlog.endOffset : -1)
            }
        }
    }

    /// The port and address this replica announces (REPLCONF listening-port / ip-address).
    var announcedPort: Int { configuration.announcePort ?? boundPort.port }
}

/// The primary's side of one replica connection: the stream bytes waiting for its channel.
/// Bytes are queued under the feed's lock in stream order (`append` holds the controller's
/// state lock while sending to every feed) and written by one task at a time on the channel's
/// event loop, so they leave in order.
final class ReplicaFeed: @unchecked Sendable {
    // @unchecked: `id` is set once under the controller's state lock before the feed is shared;
    // everything else is under `inner`.
    var id = 0
    private struct Inner {
        var channel: (any Channel)?
        var pending: [UInt8] = []
        var flushScheduled = false
        var closed = false
        /// Bytes handed to the channel whose write has not completed yet.
        var inFlight = 0
    }
    private let inner = Mutex(Inner())

    func send(_ bytes: [UInt8], limit: Int) {
        enum Next { case nothing, flush(any Channel), close((any Channel)?) }
        let next: Next = inner.withLock { f in
            guard !f.closed else { return .nothing }
            f.pending += bytes
            // The limit counts what NIO still holds too: a replica that stops reading (SIGSTOP)
            // would otherwise grow the channel's outbound buffer without bound.
            if f.pending.count + f.inFlight > limit {
                f.closed = true
                f.pending = []
                return .close(f.channel)
            }
            guard let c = f.channel, !f.flushScheduled else { return .nothing }
            f.flushScheduled = true
            return .flush(c)
        }
        switch next {
        case .nothing, .close(.none):
            break
        case .flush(let c):
            c.eventLoop.execute { self.flush() }
        case .close(.some(let c)):
            // Never close here: callers hold the controller's state lock (and the write order
            // lock), and on the channel's own event loop a close runs channelInactive, whose
            // `detach` takes those locks again, at once.
            c.eventLoop.execute { c.close(promise: nil) }
        }
    }

    /// Hands the feed its channel once the PSYNC reply is written.
    func attach(_ channel: any Channel) {
        let schedule = inner.withLock { f -> Bool in
            f.channel = channel
            if f.closed { return false }
            guard !f.pending.isEmpty, !f.flushScheduled else { return false }
            f.flushScheduled = true
            return true
        }
        if inner.withLock({ $0.closed }) { channel.close(promise: nil); return }
        if schedule { channel.eventLoop.execute { self.flush() } }
    }

    private func flush() {
        let (channel, bytes): ((any Channel)?, [UInt8]) = inner.withLock { f in
            f.flushScheduled = false
            let b = f.pending
            f.pending = []
            guard !f.closed, let c = f.channel, !b.isEmpty else { return (nil, []) }
            f.inFlight += b.count
            return (c, b)
        }
        guard let channel else { return }
        let count = bytes.count
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in self.inner.withLock { $0.inFlight -= count } }
        channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: promise)
    }

    func close() {
        let channel = inner.withLock { f -> (any Channel)? in
            f.closed = true
            f.pending = []
            return f.channel
        }
        channel?.close(promise: nil)
    }
}
