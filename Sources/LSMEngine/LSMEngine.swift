// The persistent engine `lsm`: a log-structured merge tree in the family of LevelDB.

import Foundation
import KVCore
import KVStorage
import Synchronization

/// A log-structured merge tree.
///
/// Writes go to a write-ahead log (`WriteAheadLog`, group commit) and a memtable (`MemTable`).
/// A full memtable becomes immutable and a background thread writes it out as a level-0 sorted
/// table (`SortedTableWriter`) while writes continue into a fresh one; the same thread merges
/// tables down the levels (leveled compaction, `LSMEngine+Compaction`). The live tables are
/// a `Version`, changed atomically by edits in the manifest (`VersionSet`).
///
/// Files in the directory: `CURRENT`, `MANIFEST-NNNNNN`, `NNNNNN.log`, `NNNNNN.sst`.
///
/// Durability (`LSMOptions.durability`, KVCore's `DurabilityPolicy`): `always` fsyncs each
/// write group's log record before its writers return; `periodic` writes it to the file
/// (write(2)) before they return and a second background thread (`lsm-sync`) fsyncs the log
/// every interval; `buffered` leaves it in the log writer's buffer. `sync: true` always fsyncs.
///
/// Failure is final (LevelDB's rule): after any error writing or syncing the log, the manifest
/// or a table, the engine deletes nothing more, refuses every later write with that error, and
/// leaves the cleanup of half-written files to the next open. After a failed fsync the kernel
/// may have dropped the pages it could not write, and a retried fsync may report success over
/// them, so nothing is ever retried.
///
/// Threads: any number of callers; one write group leader at a time appends to the log and
/// the memtable; one background thread flushes and compacts; under `periodic`, one more
/// fsyncs the log. The state lock guards the memtable pointers, the version set, the writer
/// queue and the background flags; it is never held across file I/O (the memtable switch
/// drops it while it creates the new log and syncs the old one).
public final class LSMEngine: KeyValueEngine, @unchecked Sendable {
    public let name = "lsm"
    public let capabilities: EngineCapabilities = [.storesData, .orderedScan, .persistent, .durableSync, .atomicBatch]

    public let options: LSMOptions
    let fileSystem: any FileSystem
    /// The directory's LOCK, held while the engine is open: no second engine opens these files.
    let directoryLock: any DirectoryLock
    let cache: BlockCache
    let tableFiles: TableFiles
    let state = StateLock()

    // Guarded by `state`.
    var versions: VersionSet
    var mem: MemTable
    var imm: MemTable?
    var log: LogWriter
    var writers: [PendingWrite] = []
    var closed = false
    var shuttingDown = false
    var backgroundRunning = false
    var backgroundError: EngineError?
    /// Sequence number of the last write visible to readers.
    var visibleSequence: UInt64 = 0
    var memtableSeed: UInt64

    /// The log file as the periodic syncer sees it, and how far it is written and synced.
    let logSync = LogSyncState()
    /// Sleeps and wakes the periodic syncer (`durability: .periodic`); guards the two flags.
    let syncerLock = StateLock()
    var syncerRunning = false
    var syncerStopping = false

    // Owned by the write group leader (one thread at a time).
    var logScratch: [UInt8] = []
    var keyScratch: [UInt8] = []

    /// Counters for tests and reports.
    let stats = Stats()
    /// Point-read counts, when `options.collectReadStatistics` is on.
    let readCounts: ReadStatisticsCollector?

    /// What this open cut off from the unsynced tails of logs and the manifest (a power loss
    /// leaves them torn, zeroed or garbage). Empty after a clean shutdown.
    public internal(set) var recoveryEvents: [RecoveryEvent] = []

    /// Opens (creating if needed) the engine in `options.directory`, replaying its logs.
    /// - Throws: `EngineError.corruption` naming the file and offset of damaged data; `.io`.
    public init(options: LSMOptions) throws(EngineError) {
        self.options = options
        fileSystem = options.fileSystem
        do { directoryLock = try options.fileSystem.lockDirectory(options.directory) } catch { throw error.engineError }
        cache = BlockCache(capacity: options.blockCacheSize)
        readCounts = options.collectReadStatistics ? ReadStatisticsCollector() : nil
        tableFiles = TableFiles(fileSystem: options.fileSystem, directory: options.directory)
        memtableSeed = options.seed
        versions = VersionSet(options: options, files: tableFiles)
        // Placeholders; recovery replaces them.
        mem = MemTable(logNumber: 0, seed: options.seed)
        log = LogWriter(file: NoFile())
        try recover()
        visibleSequence = versions.lastSequence
        logSync.lock.withLock { logSync.file = log.file }
        backgroundRunning = true
        let thread = Thread { [self] in backgroundLoop() }
        thread.name = "lsm-background"
        thread.start()
        if case let .periodic(milliseconds) = options.durability {
            syncerRunning = true
            let syncer = Thread { [self] in periodicSyncLoop(intervalNanoseconds: UInt64(milliseconds) * 1_000_000) }
            syncer.name = "lsm-sync"
            syncer.start()
        }
    }

    final class Stats: @unchecked Sendable {
        let lock = Lock()
        var flushes = 0
        var compactions = 0
        var trivialMoves = 0
        var stallNanoseconds: UInt64 = 0
        var slowdowns = 0
        var logSyncs = 0
        var writeGroups = 0
    }

    func path(_ name: String) -> String { FilePath.join(options.directory, name) }

    // MARK: - Reads

    /// The memtables, version and sequence a read works on, taken together.
    func readState() throws(EngineError) -> (MemTable, MemTable?, Version, UInt64) {
        state.lock()
        defer { state.unlock() }
        if closed { throw .closed(engine: name) }
        return (mem, imm, versions.current, visibleSequence)
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        let (mem, imm, version, sequence) = try readState()
        // The result goes into a slot of R, not a `var R?` or a generic `with...` helper: callers
        // through the protocol run this unspecialized, and either of those looks up the metadata
        // of Optional<R> (and Result) at run time on every get (~650 instructions in callgrind).
        let slot = UnsafeMutablePointer<R>.allocate(capacity: 1)
        defer { slot.deallocate() }
        guard try lookup(key, mem: mem, imm: imm, version: version, sequence: sequence, { slot.initialize(to: body($0)) }) else { return nil }
        return slot.move()
    }

    /// Finds the newest value of `key` visible at `sequence` and hands it to `body`.
    /// `chargeSeeks`: whether the tables this read consults in vain count towards their seek
    /// compaction (`Version.get`): true for gets, false for the existence check of a delete
    /// (LevelDB's deletes read nothing, so its seek compactions come from gets alone).
    /// - Returns: whether a value was found.
    @discardableResult
    func lookup(_ key: UnsafeRawBufferPointer, mem: MemTable, imm: MemTable?, version: Version, sequence: UInt64,
                chargeSeeks: Bool = true, _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> Bool {
        if let readCounts {
            var probe = CountingReadProbe()
            var memtableAnswered = false
            defer { readCounts.add(probe, memtableAnswered: memtableAnswered) }
            return try lookup(key, mem: mem, imm: imm, version: version, sequence: sequence, probe: &probe, chargeSeeks: chargeSeeks,
                              memtableAnswered: &memtableAnswered, body)
        }
        var probe = NoReadProbe()
        var memtableAnswered = false
        return try lookup(key, mem: mem, imm: imm, version: version, sequence: sequence, probe: &probe, chargeSeeks: chargeSeeks,
                          memtableAnswered: &memtableAnswered, body)
    }

    @inline(__always)
    private func lookup<P: ReadProbe>(_ key: UnsafeRawBufferPointer, mem: MemTable, imm: MemTable?, version: Version, sequence: UInt64,
                                      probe: inout P, chargeSeeks: Bool, memtableAnswered: inout Bool,
                                      _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> Bool {
        // One stack buffer for the lookup key and, after it, the scratch space tables rebuild
        // prefix-compressed keys in (`BlockPointSearch`): a point read allocates nothing.
        let lookupCount = key.count + InternalKey.trailerSize
        let scratchCount = 512
        let outcome: Result<Bool, EngineError> = withUnsafeTemporaryAllocation(byteCount: lookupCount + scratchCount, alignment: 8) { buffer in
            let base = buffer.baseAddress!
            if key.count > 0 { base.copyMemory(from: key.baseAddress!, byteCount: key.count) }
            base.storeBytes(of: InternalKey.trailer(sequence: sequence, type: .value).littleEndian, toByteOffset: key.count, as: UInt64.self)
            let lookup = UnsafeRawBufferPointer(start: base, count: lookupCount)
            let scratch = UnsafeMutableRawBufferPointer(start: base + lookupCount, count: scratchCount)
            do throws(EngineError) {
                return .success(try searchComponents(key, lookupKey: lookup, scratch: scratch, mem: mem, imm: imm, version: version,
                                                     probe: &probe, chargeSeeks: chargeSeeks, memtableAnswered: &memtableAnswered, body))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// The memtable, the immutable memtable, then the tables: the first that knows the key decides.
    @inline(__always)
    private func searchComponents<P: ReadProbe>(_ key: UnsafeRawBufferPointer, lookupKey lookup: UnsafeRawBufferPointer,
                                                scratch: UnsafeMutableRawBufferPointer, mem: MemTable, imm: MemTable?, version: Version,
                                                probe: inout P, chargeSeeks: Bool, memtableAnswered: inout Bool,
                                                _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> Bool {
        switch mem.get(lookup, userKey: key, body) {
        case .found: memtableAnswered = true; return true
        case .deleted: memtableAnswered = true; return false
        case .notFound: break
        }
        if let imm {
            switch imm.get(lookup, userKey: key, body) {
            case .found: memtableAnswered = true; return true
            case .deleted: memtableAnswered = true; return false
            case .notFound: break
            }
        }
        var seekDue: (level: Int, file: FileMetaData)? = nil
        let result = try version.get(lookup, userKey: key, scratch: scratch, cache: cache, probe: &probe, chargeSeeks: chargeSeeks, seekDue: &seekDue, body)
        if let seekDue { requestSeekCompaction(seekDue, in: version) }
        switch result {
        case .found: return true
        case .deleted, .notFound: return false
        }
    }

    /// Asks the background thread to compact a table reads keep consulting in vain, if
    /// `version` is still current and has no such request yet (LevelDB's seek compaction:
    /// after a random-order fill the upper levels keep tables that every get consults on its
    /// way down; compacting them makes later gets consult fewer tables).
    func requestSeekCompaction(_ due: (level: Int, file: FileMetaData), in version: Version) {
        state.lock()
        defer { state.unlock() }
        guard !closed, versions.current === version, version.seekCompaction == nil else { return }
        version.seekCompaction = due
        state.broadcast()
    }

    public func scan(from start: UnsafeRawBufferPointer, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        guard limit > 0 else { _ = try readState(); return }
        let (mem, imm, version, sequence) = try readState()
        try InternalKey.withLookupKey(start, sequence: InternalKey.maxSequence) { (target) throws(EngineError) in
            // The memtables are walked in place without a lock (insert-only skiplists): a long
            // scan (or a slow `visit`) never holds anything the writers inserting into `mem` need.
            var tables: [TableIterator] = []
            for file in version.files[0] {
                tables.append(try TableIterator(files: [file], target: target, cache: cache))
            }
            for level in 1..<Version.levelCount where !version.files[level].isEmpty {
                tables.append(try TableIterator(files: version.files[level], target: target, cache: cache))
            }
            let merged = MergingIterator(memtables: imm.map { [mem, $0] } ?? [mem], target: target, tables: tables)
            try scanMerged(merged, sequence: sequence, limit: limit, visit)
        }
    }

    /// Visits the newest visible entry of each user key from `merged`, skipping tombstones.
    private func scanMerged(_ merged: MergingIterator, sequence: UInt64, limit: Int,
                            _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        // The last user key decided on, copied into one reused buffer (the merged key is only
        // valid until the next step).
        var lastCapacity = 64
        var last = UnsafeMutableRawPointer.allocate(byteCount: lastCapacity, alignment: 8)
        defer { last.deallocate() }
        var lastCount = -1
        var visited = 0
        while merged.isValid {
            let key = merged.key
            if InternalKey.sequence(key) > sequence { try merged.next(); continue }
            let userKey = InternalKey.userKey(key)
            if lastCount == userKey.count && ByteOrder.equal(UnsafeRawBufferPointer(start: last, count: lastCount), userKey) {
                try merged.next()
                continue
            }
            if userKey.count > lastCapacity {
                last.deallocate()
                lastCapacity = userKey.count * 2
                last = .allocate(byteCount: lastCapacity, alignment: 8)
            }
            if userKey.count > 0 { last.copyMemory(from: userKey.baseAddress!, byteCount: userKey.count) }
            lastCount = userKey.count
            if InternalKey.type(key) == .value {
                guard visit(userKey, merged.value) else { return }
                visited += 1
                if visited >= limit { return }
            }
            try merged.next()
        }
    }

    public var count: Int? { nil }

    // MARK: - Lifecycle

    public func flush() throws(EngineError) {
        try performWrite(PendingWrite(kind: .syncOnly, sync: true))
    }

    public func close() throws(EngineError) {
        state.lock()
        if closed { state.unlock(); return }
        state.unlock()
        var failure: EngineError?
        do { try flush() } catch { if error != .closed(engine: name) { failure = error } }
        stopPeriodicSync()
        state.lock()
        if closed { state.unlock(); return }
        closed = true
        shuttingDown = true
        state.broadcast()
        while backgroundRunning { state.wait() }
        if backgroundError != nil {
            // A failed engine writes nothing more: a record or an edit left in a writer's buffer
            // by the failure must not reach the file now. The next open cleans up.
            log.abandon()
            versions.abandon()
        } else {
            do { try log.close() } catch { failure = failure ?? error.engineError }
            versions.close()
        }
        versions.releaseVersions()
        imm = nil
        mem = MemTable(logNumber: 0, seed: 0)
        state.unlock()
        directoryLock.unlock()
        if let failure { throw failure }
    }

    /// Waits until no memtable is waiting to be flushed, no level needs compaction and no seek
    /// compaction is requested (or the background thread failed). For tests and space measurements.
    public func waitForBackgroundWork() {
        state.lock()
        while backgroundRunning && backgroundError == nil
                && (imm != nil || versions.current.compactionScore >= 1 || versions.current.seekCompaction != nil) {
            state.wait()
        }
        state.unlock()
    }

    /// What gets did since the engine opened (`LSMReadStatistics`); nil unless
    /// `LSMOptions.collectReadStatistics` is on.
    public var readStatistics: LSMReadStatistics? { readCounts?.snapshot }

    /// Background work done so far and whether more is due: memtable flushes, merging
    /// compactions, trivial moves, and whether an immutable memtable waits or a level's
    /// compaction score is >= 1 (for reports: is a compaction competing with a read phase?).
    public var backgroundProgress: (flushes: Int, compactions: Int, trivialMoves: Int, pending: Bool) {
        let pending = state.withLock { imm != nil || versions.current.compactionScore >= 1 }
        return stats.lock.withLock { (stats.flushes, stats.compactions, stats.trivialMoves, pending) }
    }

    /// Table files per level and their bytes, for tests and reports.
    public var levelSummary: [(files: Int, bytes: Int64)] {
        state.withLock { versions.current.files.map { ($0.count, $0.reduce(Int64(0)) { $0 + $1.size }) } }
    }

    /// Stops the engine as a power cut would: no flush, no sync, no deletions; the background
    /// thread is stopped. Tests call this before `FaultInjectingFileSystem.crash()`.
    func abandon() {
        tableFiles.disableDeletions()
        stopPeriodicSync()
        state.lock()
        closed = true
        shuttingDown = true
        state.broadcast()
        while backgroundRunning { state.wait() }
        versions.releaseVersions()
        imm = nil
        state.unlock()
        directoryLock.unlock()
    }
}

/// What the periodic syncer needs of the log: the file (swapped by the memtable switch) and how
/// far it is written to the OS and known durable. `lock` is held across the syncer's fsync and
/// across the switch's final sync and close of the old log, so neither syncs a closed file.
final class LogSyncState: @unchecked Sendable {
    let lock = Lock()
    /// The current log file (guarded by `lock`).
    var file: (any StorageFile)?
    /// The first failed fsync of a log (guarded by `lock`): every later fsync refuses to run,
    /// because one on the same file may report success over pages the kernel dropped.
    var failure: StorageError?
    /// Bytes of the current log handed to the OS (periodic: after each write group).
    let writtenThrough = Atomic<Int64>(0)
    /// Bytes of the current log a successful fsync covered; written into each record.
    let syncedThrough = Atomic<Int64>(0)

    /// Raises `syncedThrough` to `offset` (the leader and the syncer both report syncs).
    func noteSynced(through offset: Int64) {
        var current = syncedThrough.load(ordering: .acquiring)
        while current < offset {
            let (exchanged, original) = syncedThrough.compareExchange(expected: current, desired: offset, ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
    }
}

/// A stand-in file for the log writer before recovery opens the real one.
final class NoFile: StorageFile, @unchecked Sendable {
    let path = "(none)"
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError) -> Int { 0 }
    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(StorageError) { throw .closed(path: path) }
    func size() throws(StorageError) -> Int64 { 0 }
    func truncate(to size: Int64) throws(StorageError) {}
    func sync() throws(StorageError) {}
    func close() throws(StorageError) {}
}
