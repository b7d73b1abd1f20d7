// The `btree` engine: a paged, persistent, crash-safe B+tree in one data file.
//
// Crash safety: copy-on-write shadow paging with two meta pages (LMDB's design), chosen over a
// write-ahead log because the tree pages themselves are then always consistent on disk:
// recovery is "take the newest meta that checks out" (no redo pass, no log to size, truncate or
// replay), every page is written once per commit instead of once to the log and again in
// place, and a reader's snapshot is simply a root page number. The cost is write amplification
// along the root-to-leaf path: every commit writes the pages it copied and a meta page.
//
// Durability (`DurabilityPolicy`). Under `always` and `periodic` each write group is one
// transaction (LMDB with MDB_NOSYNC commits per transaction, the comparison): concurrent
// writers queue, and the first one leads — it applies every queued write, writes the changed
// pages and a meta page with pwrite, and all of them return (group commit). So every
// acknowledged write has reached the operating system: a killed process loses nothing.
// `always` adds one fdatasync per group; `periodic` leaves fsync to a background thread.
//
// The hard case is a machine crash under `periodic`: the newest meta may reach the disk before
// pages it points at, or an older unsynced meta may be what the disk kept, with some of its
// pages since reused. The rules that keep the file safe:
// - roles, not parity, pick the meta slot: one slot holds the newest meta known durable
//   (fsynced after its pages); commits write only the other slot, and an fsync that follows a
//   commit swaps the roles. The durable meta is never overwritten before a newer one is durable;
// - pages the durable meta may reach are not reused until the next fsync (pages both written
//   and freed since it are reused at once: only unsynced metas reach them);
// - a group-commit meta records its tree's page count, record count and digest (a wrapping sum
//   of a hash of every tree page's number and checksum); open walks the tree of the newest meta
//   and accepts it only if every page reads back with a good checksum and the three figures
//   match — a stale or missing page changes the digest — else it takes the durable one. The
//   walk also rebuilds the free list, which group commits do not store (bbolt's
//   NoFreelistSync rebuilds it the same way), so a commit writes only its tree pages and meta.
// So a machine crash loses at most the writes since the last fsync and always opens. Since the
// meta is checked, a group commit under `always` needs one fdatasync (pages and meta together),
// not two. `close()` writes a checkpoint instead: pages and free list, fdatasync, a meta marked
// checkpoint, fdatasync; open trusts a checkpoint without the walk, which is why its first
// fdatasync must come before its meta write. Opening after a crash costs one read of the tree.
// The background fsync holds the writer lock (a commit meanwhile would have to overwrite the
// meta being made durable, or the durable one), so commits wait while it runs; and when pages
// held for the durable meta reach a quarter of the file, the leader fsyncs early.
//
// `buffered` keeps the earlier scheme for measurement: writes gather in one copy-on-write
// transaction in user space (a killed process LOSES them), checkpointed after `commit-size`
// bytes of pages, by `sync: true`, flush or close. It saves the per-commit pwrite of the
// root-to-leaf path, which a single writer pays under the other policies (results/durability-btree.md).
//
// Concurrency: many readers, one writer (the group leader). A reader pins the snapshot (root
// page, height, version) published by the last completed group: each get or scan takes
// `pinLock` twice, briefly, to count itself in and out of that version. Between the two it
// reads the tree's pages without locks: lookups go through the cache's lock-free reader path
// (`PageCache`); only a page missing from the cache, and an overflow chain, take the cache's
// lock. The writer never changes a page a pinned snapshot can reach (it copies it), so readers
// never see a half-applied group and a long scan does not hold writers back. A group is
// published after its commit (readers never see a write a killed process could take back,
// except under `buffered`). Pinning waits while a leader applies its group (it holds
// `pinLock` then), not during pwrite or fsync.
//
// Every mutable stored property of this module's classes is guarded by a lock, owned by the
// writer, or handed from the writer to one waiting thread through a lock (`PendingWrite`), as
// documented beside it, so they are declared `@exclusivity(unchecked)`: Swift's
// dynamic exclusivity check (swift_beginAccess) otherwise cost about 75 instructions per access
// and made up a quarter of a point read in callgrind (results/read-paths.md).

import Foundation
import KVCore
import KVStorage

/// Options of the `btree` engine.
public struct BTreeConfiguration: Sendable, Hashable {
    /// Page size in bytes, a power of two in 512...32768 (an existing file keeps its own).
    public var pageSize = 4096
    /// Bytes of clean pages kept in the page cache.
    public var cacheBytes = 512 << 20
    /// When acknowledged writes reach the operating system and the disk.
    public var durability: DurabilityPolicy = .default
    /// Under `buffered` only: bytes of pages the open transaction may change before it is
    /// checkpointed on its own.
    public var commitBytes = 256 << 20

    public init(pageSize: Int = 4096, cacheBytes: Int = 512 << 20, durability: DurabilityPolicy = .default,
                commitBytes: Int = 256 << 20) {
        self.pageSize = pageSize
        self.cacheBytes = cacheBytes
        self.durability = durability
        self.commitBytes = commitBytes
    }
}

/// A B+tree stored in `directory/data.btree`.
///
/// Under `always` and `periodic`, each write call joins a write group that is committed (pages
/// and meta written) before the call returns, and fsynced before it returns under `always` or
/// with `sync: true`; under `periodic` a background thread fsyncs every interval (`close()`
/// stops it). Under `buffered`, writes gather in one transaction checkpointed (pages,
/// fdatasync, meta, fdatasync) by `sync: true`, `flush()`, `close()`, after `commitBytes` of
/// changed pages, or when the pages it replaced reach a sixteenth of the file. After a failed
/// commit, fsync or I/O error the engine refuses further use (reopen it: the file holds the
/// last commit that reached the disk).
public final class BTreeEngine: KeyValueEngine, @unchecked Sendable {
    public let name = "btree"
    public let capabilities: EngineCapabilities = [.storesData, .orderedScan, .persistent, .durableSync, .atomicBatch]
    /// The file system the data file lives in.
    public let fileSystem: any FileSystem
    /// The directory's LOCK, held while the engine is open: no second engine opens this file.
    let directoryLock: any DirectoryLock
    /// The directory holding the data file.
    public let directory: String
    public let configuration: BTreeConfiguration
    /// The data file's path.
    public let path: String

    /// Name of the data file inside the directory.
    public static let fileName = "data.btree"

    /// Writers waiting for their group to be committed; the first one leads.
    private let queue = ConditionLock()
    @exclusivity(unchecked) private var writers: [PendingWrite] = []
    @exclusivity(unchecked) private var queueClosed = false
    /// Serializes group commits, background fsyncs, flush, close and invariant checks.
    private let writerLock = Lock()
    /// Guards the snapshot state below; a leader holds it while it changes pages.
    private let pinLock = Lock()
    @exclusivity(unchecked) private var tree: BTree?
    @exclusivity(unchecked) private var failure: EngineError?
    @exclusivity(unchecked) private var published: Snapshot
    /// Readers per pinned version, oldest first: a short array (readers pin the newest
    /// version, so it rarely holds more than two), cheaper per read than hashing into a
    /// dictionary. Entries whose count fell to 0 are dropped by the next write group, not by
    /// the reader, so a read neither appends nor removes in the steady state.
    @exclusivity(unchecked) private var pinned: [(version: UInt64, readers: Int)] = []
    private let commitPages: Int
    @exclusivity(unchecked) private var syncer: PeriodicSyncer?

    /// Writes a leader takes into one group at most.
    static let maximumGroup = 1024

    /// What a reader pins: the tree as of the end of write group `version`.
    struct Snapshot {
        var root: UInt64
        var height: Int
        var count: UInt64
        var version: UInt64
    }

    /// Opens (creating if needed) the B+tree in `directory`.
    /// - Throws: `EngineError.corruption` when no meta page checks out or a checkpoint's free
    ///   list is damaged; `.io` on file errors; `.invalidOption` for a bad page size.
    public init(fileSystem: any FileSystem = PosixFileSystem(), directory: String,
                configuration: BTreeConfiguration = BTreeConfiguration()) throws(EngineError) {
        let size = configuration.pageSize
        guard size >= PageLayout.minimumPageSize, size <= PageLayout.maximumPageSize, size & (size - 1) == 0 else {
            throw .invalidOption(engine: "btree", option: "page-size", value: "\(size)", expected: "a power of two in 512...32768")
        }
        if case let .periodic(ms) = configuration.durability, ms < 1 {
            throw .invalidOption(engine: "btree", option: "sync-interval", value: "\(ms)", expected: "at least 1 millisecond")
        }
        self.fileSystem = fileSystem
        self.directory = directory
        self.configuration = configuration
        self.path = FilePath.join(directory, Self.fileName)
        do {
            try fileSystem.createDirectory(directory)
            directoryLock = try fileSystem.lockDirectory(directory)
            if !fileSystem.exists(path) { try Self.create(fileSystem, directory: directory, path: path, pageSize: size) }
        } catch { throw error.engineError }
        let file: any StorageFile
        do { file = try fileSystem.open(path, mode: .readWrite) } catch { throw error.engineError }
        let (candidates, pageSize) = try Self.readMetas(file, path: path, preferredPageSize: size)
        let cachePages = max(64, configuration.cacheBytes / (pageSize + PrefixIndex.trailerBytes(pageSize)))  // the prefix index's trailer counts
        var problems: [String] = []
        var opened: BTree? = nil
        for (meta, slot) in candidates {
            let pager = try Pager(file: file, pageSize: pageSize, cachePages: cachePages, meta: meta, slot: slot)
            let tree = BTree(pager: pager, meta: meta)
            if meta.isCheckpoint && meta.hasDigest {
                opened = tree
                break
            }
            // A group-commit meta (or a format-1 checkpoint, whose digest is unknown): walk it.
            let census: BTree.Census
            do { census = try tree.census() } catch {
                if meta.isCheckpoint { throw error }
                problems.append("meta \(slot) (transaction \(meta.transaction)): \(error)")
                continue
            }
            if !meta.isCheckpoint {
                guard census.digest == meta.treeDigest, census.pages == meta.treePages, census.records == meta.recordCount else {
                    problems.append("meta \(slot) (transaction \(meta.transaction)): its tree has \(census.pages) pages and \(census.records) records, digest \(census.digest); the meta says \(meta.treePages), \(meta.recordCount), \(meta.treeDigest)")
                    continue
                }
                var free: [UInt64] = []
                for n in 2..<Int(meta.pageCount) where census.reachable[n] == 0 { free.append(UInt64(n)) }
                pager.adoptFreePages(free, digest: census.digest, pages: census.pages)
            } else {
                pager.adoptDigest(census.digest, pages: census.pages)
            }
            opened = tree
            break
        }
        guard let opened else {
            throw .corruption(file: path, offset: 0, detail: "no meta page checks out: " + problems.joined(separator: "; "))
        }
        // After a process crash the chosen meta and its pages may be only in the OS's cache:
        // make them durable before commits overwrite the other slot.
        do { try file.sync() } catch { throw error.engineError }
        self.commitPages = max(16, min(configuration.commitBytes, configuration.cacheBytes / 2) / pageSize)
        self.tree = opened
        self.published = Snapshot(root: opened.root, height: opened.height, count: opened.recordCount, version: 1)
        if case let .periodic(ms) = configuration.durability {
            syncer = PeriodicSyncer(intervalNanoseconds: UInt64(ms) * 1_000_000) { [weak self] in self?.backgroundSync() }
        }
    }

    deinit { syncer?.stop() }

    /// Writes a new file with two meta pages of an empty tree, under a temporary name renamed
    /// into place once durable, so a crash mid-creation leaves no half-made data file.
    private static func create(_ fs: any FileSystem, directory: String, path: String, pageSize: Int) throws(StorageError) {
        let temporary = path + ".creating"
        let file = try fs.open(temporary, mode: .truncate)
        for slot in 0..<2 {
            let page = Page.make(number: UInt64(slot), size: pageSize)
            var meta = MetaPage()
            meta.transaction = UInt64(slot)
            meta.encode(into: page)
            try file.write(at: Int64(slot * pageSize), UnsafeRawBufferPointer(start: page.bytes, count: pageSize))
        }
        try file.sync()
        try file.close()
        try fs.rename(temporary, to: path)
        try fs.syncDirectory(directory)
    }

    /// The meta pages whose checksum and fields are valid, newest first, and the file's page size.
    private static func readMetas(_ file: any StorageFile, path: String, preferredPageSize: Int) throws(EngineError) -> ([(MetaPage, UInt64)], Int) {
        var candidates: [Int] = []
        if let header = try? file.readExactly(at: 0, count: 32), let recorded = MetaPage.recordedPageSize(header) {
            candidates.append(recorded)
        }
        candidates.append(preferredPageSize)
        var s = PageLayout.minimumPageSize
        while s <= PageLayout.maximumPageSize { candidates.append(s); s *= 2 }
        var tried = Set<Int>()
        var problems: [String] = []
        for size in candidates where tried.insert(size).inserted {
            guard size >= PageLayout.minimumPageSize, size <= PageLayout.maximumPageSize, size & (size - 1) == 0 else { continue }
            var valid: [(MetaPage, UInt64)] = []
            for slot in 0..<2 {
                let page = Page.make(number: UInt64(slot), size: size)
                let buffer = UnsafeMutableRawBufferPointer(start: page.bytes, count: size)
                let n = (try? file.read(at: Int64(slot * size), into: buffer)) ?? 0
                guard n == size else { problems.append("meta \(slot) (page size \(size)): short read"); continue }
                switch MetaPage.decode(page, slot: UInt64(slot)) {
                case .success(let meta): valid.append((meta, UInt64(slot)))
                case .failure(let reason):
                    if size == candidates[0] || size == preferredPageSize { problems.append("meta \(slot) (page size \(size)): \(reason.detail)") }
                }
            }
            if !valid.isEmpty { return (valid.sorted { $0.0.transaction > $1.0.transaction }, size) }
        }
        throw .corruption(file: path, offset: 0, detail: "no valid meta page: " + problems.joined(separator: "; "))
    }

    // MARK: KeyValueEngine

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        try withSnapshot { (tree, snapshot) throws(EngineError) -> R? in
            try tree.get(key, root: snapshot.root, height: snapshot.height, body)
        }
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try Self.checkSizes(key, value)
        try perform(PendingWrite(kind: .put(key, value), sync: options.sync))
    }

    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        let write = PendingWrite(kind: .delete(key), sync: options.sync)
        try perform(write)
        return write.existed
    }

    public func scan(from start: UnsafeRawBufferPointer, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try withSnapshot { (tree, snapshot) throws(EngineError) in
            try tree.scan(from: start, limit: limit, root: snapshot.root, height: snapshot.height, visit)
        }
    }

    public func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) {
        // Check sizes first so a batch is applied whole or not at all.
        try batch.forEach { (op) throws(EngineError) in
            if case let .put(key, value) = op { try Self.checkSizes(key, value) }
        }
        try perform(PendingWrite(kind: .batch(batch), sync: options.sync))
    }

    /// Makes every acknowledged write durable: fsyncs the last commit (`buffered`: checkpoints
    /// the open transaction).
    public func flush() throws(EngineError) {
        try writerLock.withLock { () throws(EngineError) in
            let tree = try pinLock.withLock { () throws(EngineError) in try readable() }
            if configuration.durability == .buffered {
                try checkpoint(tree)
            } else {
                do throws(StorageError) { try tree.pager.syncFile() } catch { try fail(error.engineError) }
            }
        }
    }

    /// Stops the background fsync, writes a checkpoint (unless the engine failed) and releases
    /// the file and the directory lock.
    public func close() throws(EngineError) {
        syncer?.stop()
        queue.withLock { queueClosed = true }
        try writerLock.withLock { () throws(EngineError) in
            let (closing, failed) = pinLock.withLock { () -> (BTree?, Bool) in
                let t = tree
                tree = nil
                return (t, failure != nil)
            }
            guard let tree = closing else { return }
            defer { tree.pager.cache.removeAll(); try? tree.pager.file.close(); directoryLock.unlock() }
            if !failed { try checkpoint(tree) }
        }
    }

    public var count: Int? {
        pinLock.withLock { tree == nil ? nil : Int(published.count) }
    }

    public func checkInvariants() throws(EngineError) {
        try writerLock.withLock { () throws(EngineError) in
            let tree = try pinLock.withLock { () throws(EngineError) in try readable() }
            try tree.checkInvariants()
        }
    }

    // MARK: Statistics

    /// Pages in the data file (the high-water mark, meta pages included).
    public var pageCount: Int { writerLock.withLock { Int(pinLock.withLock { tree }?.pager.pageCount ?? 0) } }
    /// Free pages (reusable now or after the next commit), free-list pages included.
    public var freePageCount: Int {
        writerLock.withLock {
            guard let p = pinLock.withLock({ tree })?.pager else { return 0 }
            let (free, list) = p.allFreePages
            return free.count + list.count
        }
    }
    /// The open tree's page cache (tests), nil when closed.
    var pageCache: PageCache? { pinLock.withLock { tree?.pager.cache } }
    /// The tree's height (0 when empty).
    public var height: Int { pinLock.withLock { tree == nil ? 0 : published.height } }
    /// The page size of the open file.
    public var pageSize: Int { pinLock.withLock { tree?.pager.pageSize } ?? configuration.pageSize }

    /// Commits (meta pages written) since open.
    public var commitCount: Int { writerLock.withLock { pinLock.withLock { tree }?.pager.commitCount ?? 0 } }
    /// fdatasyncs of the data file since open (the one at open excluded).
    public var fsyncCount: Int { writerLock.withLock { pinLock.withLock { tree }?.pager.syncCount ?? 0 } }

    // MARK: Internals

    static let maximumKeySize = 1 << 16
    static let maximumValueSize = 1 << 30

    private static func checkSizes(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(EngineError) {
        if key.count > maximumKeySize { throw .tooLarge(what: "key", size: key.count, limit: maximumKeySize) }
        if value.count > maximumValueSize { throw .tooLarge(what: "value", size: value.count, limit: maximumValueSize) }
    }

    /// The open tree (call with `pinLock` held).
    private func readable() throws(EngineError) -> BTree {
        guard let tree else { throw .closed(engine: name) }
        if let failure { throw failure }
        return tree
    }

    /// Marks the engine failed with `error` and throws it.
    private func fail(_ error: EngineError) throws(EngineError) -> Never {
        pinLock.withLock { if failure == nil { failure = error } }
        throw error
    }

    /// Runs `body` on the snapshot published by the last completed write group, pinned so no
    /// writer changes its pages meanwhile.
    @inline(__always)
    private func withSnapshot<R>(_ body: (BTree, Snapshot) throws(EngineError) -> R) throws(EngineError) -> R {
        pinLock.lock()
        let tree: BTree
        do throws(EngineError) { tree = try readable() } catch { pinLock.unlock(); throw error }
        let snapshot = published
        // Versions only grow, so the newest pin is last.
        if let last = pinned.last, last.version == snapshot.version {
            pinned[pinned.count - 1].readers += 1
        } else {
            pinned.append((snapshot.version, 1))
        }
        pinLock.unlock()
        defer {
            pinLock.lock()
            var i = pinned.count - 1
            while pinned[i].version != snapshot.version { i -= 1 }
            pinned[i].readers -= 1
            pinLock.unlock()
        }
        return try body(tree, snapshot)
    }

    /// Runs `body` with a cursor over the published snapshot, pinned meanwhile (tests; the
    /// cursor must not outlive `body`).
    func withCursor<R>(_ body: (inout BTreeCursor) throws(EngineError) -> R) throws(EngineError) -> R {
        try withSnapshot { (tree, snapshot) throws(EngineError) -> R in
            var cursor = tree.cursor(root: snapshot.root, height: snapshot.height)
            return try body(&cursor)
        }
    }

    /// Queues `write`; returns when a leader (this thread or another) has committed it.
    private func perform(_ write: PendingWrite) throws(EngineError) {
        queue.lock()
        if queueClosed { queue.unlock(); throw .closed(engine: name) }
        writers.append(write)
        while !write.done && writers.first !== write { queue.wait() }
        if write.done {
            queue.unlock()
            if let error = write.error { throw error }
            return
        }
        // This thread leads: it commits every write queued so far as one group.
        let size = min(writers.count, Self.maximumGroup)
        let group = Array(writers[0..<size])
        queue.unlock()
        var failure: EngineError? = nil
        do throws(EngineError) {
            try writerLock.withLock { () throws(EngineError) in try commitGroup(group) }
        } catch {
            failure = error
        }
        queue.lock()
        for member in group {
            member.error = failure
            member.done = true
        }
        writers.removeFirst(size)
        queue.broadcast()
        queue.unlock()
        if let failure { throw failure }
    }

    /// Applies `group` to a new version while no reader can pin, commits it (all policies but
    /// `buffered`) and publishes it. Called by the leader with `writerLock` held.
    private func commitGroup(_ group: [PendingWrite]) throws(EngineError) {
        pinLock.lock()
        let tree: BTree
        do throws(EngineError) { tree = try readable() } catch { pinLock.unlock(); throw error }
        let version = published.version + 1
        var range: ClosedRange<UInt64>? = nil
        pinned.removeAll { $0.readers == 0 }
        if let low = pinned.first?.version, let high = pinned.last?.version { range = low...high }
        tree.pager.beginWrite(version: version, pinned: range)
        var sync = configuration.durability == .always
        do throws(EngineError) {
            for member in group {
                sync = sync || member.sync
                switch member.kind {
                case let .put(key, value): try tree.put(key, value)
                case let .delete(key): member.existed = try tree.delete(key)
                case let .batch(batch):
                    try batch.forEach { (op) throws(EngineError) in
                        switch op {
                        case let .put(key, value): try tree.put(key, value)
                        case let .delete(key): _ = try tree.delete(key)
                        }
                    }
                }
            }
        } catch {
            failure = error  // may be half-applied: refuse further use
            published.version = version
            pinLock.unlock()
            throw error
        }
        let snapshot = Snapshot(root: tree.root, height: tree.height, count: tree.recordCount, version: version)
        if configuration.durability == .buffered {
            published = snapshot
            pinLock.unlock()
            // Also checkpoint once the pages this transaction replaced (reusable only after a
            // checkpoint) reach a sixteenth of the file: a transaction rewriting the whole tree
            // would otherwise need a second copy of it.
            let replaced = tree.pager.replacedCount
            if sync || tree.pager.dirtyCount >= commitPages || (replaced >= 256 && UInt64(replaced) >= tree.pager.pageCount / 16) {
                try checkpoint(tree)
            }
            return
        }
        pinLock.unlock()
        do throws(EngineError) {
            try tree.pager.commitGroup(root: tree.root, height: tree.height, recordCount: tree.recordCount, sync: sync)
            // Pages the durable meta reaches wait for an fsync to be reused: once they reach a
            // quarter of the file, fsync now rather than at the next tick, so rewriting the
            // whole tree within one interval grows the file by a quarter, not by a copy.
            let held = tree.pager.held.count
            if held >= 256 && UInt64(held) >= tree.pager.pageCount / 4 {
                do throws(StorageError) { try tree.pager.syncFile() } catch { throw error.engineError }
            }
        } catch {
            try fail(error)
        }
        pinLock.withLock { published = snapshot }
    }

    /// Writes a checkpoint if anything changed since the last one (writer lock held).
    private func checkpoint(_ tree: BTree) throws(EngineError) {
        let pager = tree.pager
        guard pager.hasChanges || !pager.committed.isCheckpoint || pager.hasUnsyncedCommit
                || pager.committed.recordCount != tree.recordCount else { return }
        do throws(EngineError) {
            try pager.checkpoint(root: tree.root, height: tree.height, recordCount: tree.recordCount)
        } catch {
            try fail(error)
        }
    }

    /// The background thread's tick under `periodic`: fsyncs the last commit if it is not
    /// durable. It holds the writer lock, so commits wait for the fsync (see the file's top).
    func backgroundSync() {
        writerLock.withLock {
            guard let tree = pinLock.withLock({ failure == nil ? self.tree : nil }) else { return }
            do throws(StorageError) { try tree.pager.syncFile() } catch {
                pinLock.withLock { if failure == nil { failure = error.engineError } }
            }
        }
    }

    /// Stops the engine as a killed process would stop: no commit, no fsync, no checkpoint; the
    /// background thread is stopped and the directory lock released. What was written stays
    /// with the file system. Tests call this to simulate a process crash (and then, for a
    /// machine crash, `FaultInjectingFileSystem.crash()`).
    func abandon() {
        syncer?.stop()
        queue.withLock { queueClosed = true }
        writerLock.withLock {
            let closing = pinLock.withLock { () -> BTree? in
                let t = tree
                tree = nil
                return t
            }
            if let closing { closing.pager.cache.removeAll(); try? closing.pager.file.close() }
            directoryLock.unlock()
        }
    }

    /// Writers waiting in the queue (the leader included), for tests of group commit.
    var queuedWriters: Int { queue.withLock { writers.count } }
}
