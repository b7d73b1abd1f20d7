// The in-memory ordered engine `skiplist`: a multi-version SkipList behind KeyValueEngine.

import KVCore
import Synchronization

/// An in-memory, ordered key-value engine over one `SkipList` whose readers take no lock.
///
/// ## Versions: atomic batches and consistent scans without a read lock
///
/// The list holds *versioned keys* (`VersionedKey`: user key + sequence number + kind, newest
/// first), as an LSM memtable does. A write (a put, a delete, or a whole batch, one sequence
/// number per operation) runs under the list's write lock: it links new nodes, never touches
/// an existing one, and then publishes its last sequence number with a release store. A reader
/// (`get`, `scan`) loads the published sequence once and looks only at versions at or below it,
/// so it sees each batch entirely or not at all, and a scan is one snapshot however long it
/// runs and whatever is written meanwhile. Readers never wait for writers, and writers never
/// wait for readers: a scan holding its cursor open for a long time delays the freeing of old
/// versions, nothing else (`SkipListEngineTests`' scan-versus-writer test checks it).
///
/// ## Deletes and overwrites: tombstones, then epochs
///
/// A delete links a tombstone version; an overwrite links a newer value version. What they hide
/// (the older version; and the tombstone itself, once nothing older remains) is garbage only
/// when no reader can still be looking at a snapshot older than the write. That is decided by
/// the list's epochs (`EpochReclaimer`): the write queues the hidden nodes tagged with the epoch
/// after its publication; two epochs later every reader in flight started after the write, so
/// the nodes are unlinked, and two epochs after that they are freed. Tombstones alone would let
/// memory grow without bound under deletes and overwrites, and freeing at once would pull nodes
/// from under readers, so both are used. Without concurrent readers the epochs move at once and
/// memory returns to what the live records need at the end of each write.
///
/// Memory per record: the 8-byte trailer on every key (136-byte chunks for 16-byte keys and
/// 100-byte values, against 128 without versions); overwritten and deleted records hold their
/// old node until their grace period ends.
///
/// The closed flag is set under the write lock; `close()` then unlinks everything, waits out a
/// grace period for the readers in flight (the one wait in this engine) and frees the memory.
/// So `close()` must not be called from inside a `get` or `scan` callback: it would wait for
/// the read it is called from.
public final class SkipListEngine: KeyValueEngine, @unchecked Sendable {
    public let name = "skiplist"
    public let capabilities: EngineCapabilities = [.storesData, .orderedScan, .atomicBatch]

    let list: SkipList<VersionedKeyComparator>
    private let isClosed = Atomic<Bool>(false)
    /// The last sequence number whose write is complete: readers look at versions up to it.
    private let visibleSequence = Atomic<UInt64>(0)
    /// User keys whose newest version is a value.
    private let liveCount = Atomic<Int>(0)
    /// While hidden versions or retired nodes wait: the sequence published when the last
    /// collection left them (`.max` when nothing waits; set under the write lock). A reader that
    /// leaves while it still equals `visibleSequence` (no write since, so no write is collecting)
    /// tries to collect them, so they do not outlast the writes; while writes go on, readers leave
    /// the work to them and stay off the write lock.
    private let garbageAtSequence = Atomic<UInt64>(.max)

    // Guarded by the list's write lock (so @exclusivity(unchecked): the lock makes each access
    // exclusive, and the dynamic checks cost several hundred instructions per write).
    @exclusivity(unchecked) private var lastSequence: UInt64 = 0
    /// Nodes hidden by the current write, tagged with an epoch once it is published.
    @exclusivity(unchecked) private var hidden: [SkipListNode] = []
    /// Hidden nodes waiting to be unlinked, oldest first, with the epoch they were queued in.
    @exclusivity(unchecked) private var pending: [(node: SkipListNode, epoch: Int)] = []
    @exclusivity(unchecked) private var pendingStart = 0
    /// The change in `liveCount` made by the current write, applied when it is published.
    @exclusivity(unchecked) private var liveDelta = 0

    /// Queued versions a write unlinks besides twice its own operations: bounds the time a
    /// write spends on an old backlog (after a long scan) under the write lock; the rest waits.
    static let collectPerWrite = 16
    /// Queued versions a reader unlinks when it leaves with garbage queued and the write lock
    /// free (it never waits for the lock).
    static let collectPerRead = 64

    /// An empty engine.
    /// - Parameters:
    ///   - seed: seeds the tower heights, so a run's memory layout is reproducible.
    ///   - searchIndex: the list's search index policy (nil: the default, see `SkipList`).
    public init(seed: UInt64 = 0x5EED, searchIndex: SearchIndexPolicy? = nil) {
        list = SkipList(comparator: VersionedKeyComparator(), random: SeededRandom(seed: seed), mode: .reclaiming,
                        searchIndex: searchIndex)
    }

    /// Bytes held by records (chunk sizes), and bytes obtained from the system.
    public var memoryUsage: (bytesInUse: Int, bytesReserved: Int) { list.memoryUsage }

    @inline(__always)
    private func checkOpen() throws(EngineError) {
        // Sequentially consistent: paired with close()'s exchange and the reclaimer's drain, a
        // reader that entered its section after close() began sees the flag.
        if isClosed.load(ordering: .sequentiallyConsistent) { throw .closed(engine: name) }
    }

    // MARK: - Reads (no lock)

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        // Generic over R only where `body` is called: this is a protocol witness, called through
        // `any KeyValueEngine` with R unknown, so a generic closure scope or a `Result<R, _>`
        // here would go through value witness tables on every get (the first pass's cost).
        let entered = list.reclaimer.enter()
        if isClosed.load(ordering: .sequentiallyConsistent) {
            list.reclaimer.leave(entered)
            throw .closed(engine: name)
        }
        let result: R?
        if let value = visibleValue(key) { result = body(value) } else { result = nil }
        list.reclaimer.leave(entered)
        collectAfterRead()
        return result
    }

    /// The value of `key`'s newest version at the published sequence, in place; nil if that
    /// version is a tombstone or there is none. Call inside a read section.
    @inline(__always)
    private func visibleValue(_ key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let sequence = visibleSequence.load(ordering: .acquiring)
        guard let node = list.findFirst(notBefore: VersionedProbe(userKey: key, sequence: sequence),
                                        recordingPredecessors: false) else { return nil }
        let (found, value) = node.record
        guard ByteOrder.equal(VersionedKey.userKey(found), key), !VersionedKey.isDeletion(found) else { return nil }
        return value
    }

    public func scan(from start: UnsafeRawBufferPointer, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try list.withReadView { (_) throws(EngineError) in
            try checkOpen()
            let sequence = visibleSequence.load(ordering: .acquiring)
            var cursor = SkipList<VersionedKeyComparator>.Cursor(node: list.findFirst(notBefore: VersionedProbe(userKey: start, sequence: sequence),
                                                              recordingPredecessors: false))
            var visited = 0
            // The user key last decided on, in place in its node (nodes outlive the section).
            var last = UnsafeRawBufferPointer(start: nil, count: 0)
            var hasLast = false
            while visited < limit, cursor.isValid {
                let key = cursor.key
                defer { cursor.next() }
                if VersionedKey.sequence(key) > sequence { continue }
                let userKey = VersionedKey.userKey(key)
                if hasLast && ByteOrder.equal(userKey, last) { continue }
                last = userKey
                hasLast = true
                if VersionedKey.isDeletion(key) { continue }
                guard visit(userKey, cursor.value) else { return }
                visited += 1
            }
        }
        collectAfterRead()
    }

    /// Collects queued garbage after a read section if no writer holds the lock: without it,
    /// versions hidden during a long scan would stay until the next write, forever if writes stop.
    @inline(__always)
    private func collectAfterRead() {
        let garbage = garbageAtSequence.load(ordering: .relaxed)
        guard garbage != .max, garbage == visibleSequence.load(ordering: .relaxed) else { return }
        _ = list.tryWithWriter { _ in
            if !isClosed.load(ordering: .relaxed) { collectLocked(budget: Self.collectPerRead) }
        }
    }

    // MARK: - Writes (serialized by the list's write lock)

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try list.withWriter { (_) throws(EngineError) in
            try checkOpen()
            checkSequenceLocked(adding: 1)
            lastSequence += 1
            _ = applyLocked(key, value, sequence: lastSequence)
            publishLocked(operations: 1)
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        try list.withWriter { (_) throws(EngineError) -> Bool in
            try checkOpen()
            checkSequenceLocked(adding: 1)
            let existed = applyLocked(key, nil, sequence: lastSequence + 1)
            if existed {
                lastSequence += 1
                publishLocked(operations: 1)
            }
            return existed
        }
    }

    public func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) {
        try list.withWriter { (_) throws(EngineError) in
            try checkOpen()
            checkSequenceLocked(adding: UInt64(batch.count))
            var sequence = lastSequence
            batch.forEach { operation in
                switch operation {
                case let .put(key, value):
                    sequence += 1
                    _ = applyLocked(key, value, sequence: sequence)
                case let .delete(key):
                    if applyLocked(key, nil, sequence: sequence + 1) { sequence += 1 }
                }
            }
            let operations = Int(sequence - lastSequence)
            lastSequence = sequence
            publishLocked(operations: operations)
        }
    }

    /// Links a new version of `key` at `sequence`: a value, or a tombstone when `value` is nil
    /// (only if the key is live: a delete of an absent key links nothing). Queues what it hides.
    /// - Returns: whether the key was live before.
    private func applyLocked(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?, sequence: UInt64) -> Bool {
        VersionedKey.with(key, sequence: sequence, isDeletion: value == nil) { versioned -> Bool in
            // `sequence` is above every stored one, so the first entry >= versioned is the newest
            // version of `key`, if the key has one.
            let found = list.findGreaterOrEqual(versioned, recordingPredecessors: true)
            let previous = found.flatMap { ByteOrder.equal(VersionedKey.userKey($0.key), key) ? $0 : nil }
            let wasLive = previous.map { !VersionedKey.isDeletion($0.key) } ?? false
            if value == nil && !wasLive { return false }
            let node = list.linkNewLocked(versioned, value ?? UnsafeRawBufferPointer(start: nil, count: 0))
            // The older version first: it must be gone before the tombstone that hides it.
            if let previous { hidden.append(previous) }
            if value == nil {
                hidden.append(node)
                liveDelta -= 1
            } else if !wasLive {
                liveDelta += 1
            }
            return wasLive
        }
    }

    /// Stops a write that would take sequence numbers past the 56 bits the key trailer holds
    /// (`VersionedKey.trailer` shifts them left by 8): they would wrap silently and reorder
    /// versions. Out of reach in practice (2^56 writes), so a trap rather than a typed error.
    private func checkSequenceLocked(adding count: UInt64) {
        precondition(count <= VersionedKey.maxSequence && lastSequence <= VersionedKey.maxSequence - count,
                     "skiplist sequence numbers exhausted (56 bits)")
    }

    /// Makes the writes so far visible (`operations` of them), then collects what readers
    /// allow, within a budget proportional to the write.
    private func publishLocked(operations: Int) {
        visibleSequence.store(lastSequence, ordering: .releasing)
        // The count moves with the publication, not per operation: a reader never sees it
        // reflect half of a batch it cannot see.
        if liveDelta != 0 {
            liveCount.wrappingAdd(liveDelta, ordering: .relaxed)
            liveDelta = 0
        }
        let epoch = list.reclaimer.current
        for node in hidden { pending.append((node, epoch)) }
        hidden.removeAll(keepingCapacity: true)
        collectLocked(budget: 2 * operations + Self.collectPerWrite)
    }

    /// Unlinks up to `budget` queued versions and moves the epochs on as readers allow.
    private func collectLocked(budget: Int) {
        // Four epoch steps take a queued node through unlinking and freeing when no reader is
        // inside; a reader in the way stops the steps, never this thread.
        var budget = budget
        var steps = 0
        while true {
            unlinkExpiredLocked(budget: &budget)
            guard steps < 4, pendingStart < pending.count || list.hasRetiredLocked, list.tryAdvanceEpochLocked() else { break }
            steps += 1
        }
        unlinkExpiredLocked(budget: &budget)
        let waiting = pendingStart < pending.count || list.hasRetiredLocked
        garbageAtSequence.store(waiting ? lastSequence : .max, ordering: .relaxed)
    }

    /// Unlinks the queued nodes no reader can need any more (queued two or more epochs ago),
    /// at most `budget` of them; the rest stay queued for later writes and reads.
    private func unlinkExpiredLocked(budget: inout Int) {
        let epoch = list.reclaimer.current
        while budget > 0, pendingStart < pending.count, pending[pendingStart].epoch + 2 <= epoch {
            budget -= 1
            let node = pending[pendingStart].node
            pendingStart += 1
            let found = list.findGreaterOrEqual(node.key, recordingPredecessors: true)
            precondition(found == node, "a queued skiplist version is no longer linked")
            if VersionedKey.isDeletion(node.key) {
                // A newer version of the key came after the tombstone: it queued the tombstone
                // again, and that later entry removes it.
                let before = list.predecessors[0]
                if before != list.head && ByteOrder.equal(VersionedKey.userKey(before.key), VersionedKey.userKey(node.key)) { continue }
            }
            list.unlinkLocked(node)
        }
        if pendingStart == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingStart = 0
        } else if pendingStart > 4096 && pendingStart * 2 > pending.count {
            pending.removeFirst(pendingStart)
            pendingStart = 0
        }
    }

    // MARK: - Lifecycle

    public func flush() throws(EngineError) {
        try checkOpen()
    }

    public func close() throws(EngineError) {
        // Marked closed under the write lock: every later write sees the flag; readers check it
        // inside their read section, and removeAll waits for those already past the check.
        let wasOpen = list.withWriter { _ -> Bool in
            let wasOpen = !isClosed.exchange(true, ordering: .sequentiallyConsistent)
            if wasOpen {
                hidden.removeAll()
                pending.removeAll()
                pendingStart = 0
                liveDelta = 0
                liveCount.store(0, ordering: .relaxed)
                garbageAtSequence.store(.max, ordering: .relaxed)
            }
            return wasOpen
        }
        if wasOpen { list.removeAll(keepingCapacity: false) }
    }

    /// User keys with a live value.
    public var count: Int? { liveCount.load(ordering: .relaxed) }

    /// Versions stored, live or waiting to be collected (for tests: they all go once no reader
    /// is inside).
    var storedVersions: Int { list.count }

    public func checkInvariants() throws(EngineError) {
        try checkOpen()
        try list.checkInvariants()
    }
}
