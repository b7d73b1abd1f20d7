// The `btree` engine: a paged, persistent, crash-safe B+tree in one data file.
//
// Crash safety: copy-on-write shadow paging with an atomic meta-page switch (LMDB's design),
// chosen over a write-ahead log because the tree pages themselves are then always consistent
// on disk: recovery is "read both meta pages, take the newer valid one" (no redo pass, no log
// to size, truncate or replay), every page is written once per commit instead of once to the
// log and again in place, and a reader's snapshot is simply a root page number. The costs are
// write amplification along the root-to-leaf path (amortized here by grouping unsynced writes
// into one transaction) and two fdatasyncs per durable commit (data, then meta).
//
// Concurrency: many readers, one writer. A reader pins the snapshot (root page, height,
// version) published by the last completed write call and reads it without locks; the writer
// never changes a page a pinned snapshot can reach (it copies it, as for a committed page), so
// readers never see a half-applied write and a long scan does not hold writers back. Pinning
// waits only while a write call is applying its changes (not during its fsyncs).

import KVCore
import KVStorage

/// Options of the `btree` engine.
public struct BTreeConfiguration: Sendable, Hashable {
    /// Page size in bytes, a power of two in 512...32768 (an existing file keeps its own).
    public var pageSize = 4096
    /// Bytes of clean pages kept in the page cache.
    public var cacheBytes = 512 << 20
    /// Every write is durable on return, as if each passed `sync: true`.
    public var syncEveryWrite = false
    /// Bytes of pages an unsynced transaction may change before it is committed on its own.
    public var commitBytes = 256 << 20

    public init(pageSize: Int = 4096, cacheBytes: Int = 512 << 20, syncEveryWrite: Bool = false, commitBytes: Int = 256 << 20) {
        self.pageSize = pageSize
        self.cacheBytes = cacheBytes
        self.syncEveryWrite = syncEveryWrite
        self.commitBytes = commitBytes
    }
}

/// A B+tree stored in `directory/data.btree`.
///
/// Writes apply to an open copy-on-write transaction in memory at once (readers see them when
/// the call returns). The transaction is committed — its pages written, fdatasync, the meta page
/// switched, fdatasync — by a write with `sync: true`, by `flush()`/`close()`, when it has
/// changed `commitBytes` of pages, or when the committed pages it replaced reach a sixteenth of
/// the file (they are reusable only after a commit); so unsynced writes cost no I/O of their
/// own and a synced one costs two fdatasyncs. After a failed commit or I/O error the engine refuses further use
/// (reopen it: the file holds the last commit).
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

    /// Serializes write calls, flush, close and invariant checks.
    private let writerLock = Lock()
    /// Guards the snapshot state below; a write call holds it while it changes pages.
    private let pinLock = Lock()
    private var tree: BTree?
    private var failure: EngineError?
    private var published: Snapshot
    /// Readers per pinned version.
    private var pinned: [UInt64: Int] = [:]
    private let commitPages: Int

    /// What a reader pins: the tree as of the end of write call `version`.
    struct Snapshot {
        var root: UInt64
        var height: Int
        var count: UInt64
        var version: UInt64
    }

    /// Opens (creating if needed) the B+tree in `directory`.
    /// - Throws: `EngineError.corruption` when neither meta page is valid or the free list is
    ///   damaged; `.io` on file errors; `.invalidOption` for a bad page size.
    public init(fileSystem: any FileSystem = PosixFileSystem(), directory: String,
                configuration: BTreeConfiguration = BTreeConfiguration()) throws(EngineError) {
        let size = configuration.pageSize
        guard size >= PageLayout.minimumPageSize, size <= PageLayout.maximumPageSize, size & (size - 1) == 0 else {
            throw .invalidOption(engine: "btree", option: "page-size", value: "\(size)", expected: "a power of two in 512...32768")
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
        let (meta, pageSize) = try Self.readMeta(file, path: path, preferredPageSize: size)
        let cachePages = max(64, configuration.cacheBytes / pageSize)
        let pager = try Pager(file: file, pageSize: pageSize, cachePages: cachePages, meta: meta)
        self.commitPages = max(16, min(configuration.commitBytes, configuration.cacheBytes / 2) / pageSize)
        self.tree = BTree(pager: pager, meta: meta)
        self.published = Snapshot(root: meta.root, height: meta.height, count: meta.recordCount, version: 1)
    }

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

    /// The newer valid meta page and the file's page size.
    private static func readMeta(_ file: any StorageFile, path: String, preferredPageSize: Int) throws(EngineError) -> (MetaPage, Int) {
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
            var best: MetaPage? = nil
            for slot in 0..<2 {
                let page = Page.make(number: UInt64(slot), size: size)
                let buffer = UnsafeMutableRawBufferPointer(start: page.bytes, count: size)
                let n = (try? file.read(at: Int64(slot * size), into: buffer)) ?? 0
                guard n == size else { problems.append("meta \(slot) (page size \(size)): short read"); continue }
                switch MetaPage.decode(page, slot: UInt64(slot)) {
                case .success(let meta):
                    if best == nil || meta.transaction > best!.transaction { best = meta }
                case .failure(let reason):
                    if size == candidates[0] || size == preferredPageSize { problems.append("meta \(slot) (page size \(size)): \(reason.detail)") }
                }
            }
            if let best { return (best, size) }
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
        try mutate(options) { (tree) throws(EngineError) in
            try Self.checkSizes(key, value)
            try tree.put(key, value)
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        try mutate(options) { (tree) throws(EngineError) -> Bool in try tree.delete(key) }
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
        try mutate(options) { (tree) throws(EngineError) in
            try batch.forEach { (op) throws(EngineError) in
                switch op {
                case let .put(key, value): try tree.put(key, value)
                case let .delete(key): _ = try tree.delete(key)
                }
            }
        }
    }

    public func flush() throws(EngineError) {
        try writerLock.withLock { () throws(EngineError) in
            let tree = try pinLock.withLock { () throws(EngineError) in try readable() }
            try commit(tree)
        }
    }

    public func close() throws(EngineError) {
        try writerLock.withLock { () throws(EngineError) in
            let (closing, failed) = pinLock.withLock { () -> (BTree?, Bool) in
                let t = tree
                tree = nil
                return (t, failure != nil)
            }
            guard let tree = closing else { return }
            defer { tree.pager.cache.removeAll(); try? tree.pager.file.close(); directoryLock.unlock() }
            if !failed { try commit(tree) }
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
    /// The tree's height (0 when empty).
    public var height: Int { pinLock.withLock { tree == nil ? 0 : published.height } }
    /// The page size of the open file.
    public var pageSize: Int { pinLock.withLock { tree?.pager.pageSize } ?? configuration.pageSize }

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

    /// Runs `body` on the snapshot published by the last completed write call, pinned so no
    /// writer changes its pages meanwhile.
    @inline(__always)
    private func withSnapshot<R>(_ body: (BTree, Snapshot) throws(EngineError) -> R) throws(EngineError) -> R {
        pinLock.lock()
        let tree: BTree
        do throws(EngineError) { tree = try readable() } catch { pinLock.unlock(); throw error }
        let snapshot = published
        pinned[snapshot.version, default: 0] += 1
        pinLock.unlock()
        defer {
            pinLock.lock()
            if let n = pinned[snapshot.version], n > 1 { pinned[snapshot.version] = n - 1 } else { pinned[snapshot.version] = nil }
            pinLock.unlock()
        }
        return try body(tree, snapshot)
    }

    /// Runs one write call: applies `body` to a new version while no reader can pin, publishes
    /// it, then commits (outside the pin lock) if the write asks for durability or the
    /// transaction has grown past `commitBytes`.
    private func mutate<R>(_ options: WriteOptions, _ body: (BTree) throws(EngineError) -> R) throws(EngineError) -> R {
        try writerLock.withLock { () throws(EngineError) -> R in
            pinLock.lock()
            let tree: BTree
            do throws(EngineError) { tree = try readable() } catch { pinLock.unlock(); throw error }
            let version = published.version + 1
            var range: ClosedRange<UInt64>? = nil
            if let low = pinned.keys.min(), let high = pinned.keys.max() { range = low...high }
            tree.pager.beginWrite(version: version, pinned: range)
            let result: R
            do throws(EngineError) {
                result = try body(tree)
            } catch {
                if case .tooLarge = error {} else { failure = error }  // may be half-applied: refuse further use
                published.version = version
                pinLock.unlock()
                throw error
            }
            published = Snapshot(root: tree.root, height: tree.height, count: tree.recordCount, version: version)
            pinLock.unlock()
            // Also commit once the pages this transaction replaced (reusable only after a
            // commit) reach a sixteenth of the file: a transaction rewriting the whole tree
            // would otherwise need a second copy of it.
            let replaced = tree.pager.pending.count
            if options.sync || configuration.syncEveryWrite || tree.pager.dirtyCount >= commitPages
                || (replaced >= 256 && UInt64(replaced) >= tree.pager.pageCount / 16) {
                try commit(tree)
            }
            return result
        }
    }

    private func commit(_ tree: BTree) throws(EngineError) {
        guard tree.pager.hasChanges || tree.pager.committed.recordCount != tree.recordCount else { return }
        do {
            try tree.pager.commit(root: tree.root, height: tree.height, recordCount: tree.recordCount)
        } catch {
            pinLock.withLock { failure = error }
            throw error
        }
    }
}
