// The data file as numbered pages: reads through the cache, copy-on-write allocation, free
// pages, and the commit that switches the meta page.

import KVCore
import KVStorage
import Synchronization

/// Owns the data file. All methods except `page(_:)` (and what it calls) run with the
/// engine's writer lock held; `page(_:)` is also called by readers, concurrently with each
/// other and with the writer.
///
/// Page life cycle. A write transaction never modifies a page that is on disk: the first change
/// to a page copies it to a newly allocated page (`writable(_:)`), and the old number is freed.
/// When a freed page may be overwritten depends on which meta can still reach it:
/// - created by the open transaction and never written: at once (if no reader sees it);
/// - written by a commit after the durable meta (`unsynced`): only the metas written since the
///   last fsync reach it, and once this transaction's meta is written a process crash opens
///   this meta or a later one; a machine crash may bring back an older unsynced meta, which
///   then fails its digest check at open and yields to the durable one. So it is `pending`
///   until this commit's meta is written, then reusable;
/// - written before the durable meta: the durable meta (the fallback after a machine crash)
///   may reach it, so it is `held` until the next fsync makes a newer meta durable.
/// Hence pages freed since the last fsync are not reused until it, except those both written
/// and freed since it (the hot upper levels of the tree), which keeps the file from growing
/// by a copy of every page touched per interval.
///
/// Snapshots. Each write call gets a version; readers pin the version published by the last
/// completed call and read its root without locks. A page created by an earlier call of the
/// open transaction (`buffered` only: other policies commit every group) is changed in place
/// only if no pinned reader can see it (its version is above `frozenFloor`, the newest pinned
/// version); otherwise it is copied like a committed page. A freed page some reader may still
/// reach is `retired` with the version that freed it and reused only when every pinned reader
/// is at that version or later (`beginWrite`); a retired page never written to disk stays in
/// the cache, pinned, until then.
final class Pager: @unchecked Sendable {
    let file: any StorageFile
    let path: String
    let pageSize: Int
    let cache: PageCache

    /// The last meta written (what the operating system has).
    @exclusivity(unchecked) private(set) var committed: MetaPage
    /// The slot `committed` was written to.
    @exclusivity(unchecked) private(set) var committedSlot: UInt64
    /// The slot of the newest meta known durable; commits write the other one.
    @exclusivity(unchecked) private(set) var durableSlot: UInt64
    /// High-water mark of the open transaction (read by readers for bounds checks).
    private let pageCountStorage: Atomic<UInt64>
    var pageCount: UInt64 {
        get { pageCountStorage.load(ordering: .relaxed) }
        set { pageCountStorage.store(newValue, ordering: .relaxed) }
    }
    /// The version of the write call in progress.
    @exclusivity(unchecked) private(set) var currentVersion: UInt64 = 1
    /// The newest version a pinned reader holds (0: none).
    @exclusivity(unchecked) private(set) var frozenFloor: UInt64 = 0
    /// Freed pages a pinned reader may still reach, in the order (and version) they were freed.
    @exclusivity(unchecked) private var retired: [(number: UInt64, version: UInt64)] = []
    @exclusivity(unchecked) private var retiredHead = 0
    /// Free pages that may be overwritten now.
    @exclusivity(unchecked) private(set) var reusable: [UInt64] = []
    /// Pages freed by the open transaction that only unsynced metas reach: reusable (through
    /// `retired`) once this transaction's meta is written.
    @exclusivity(unchecked) private(set) var pending: [UInt64] = []
    /// Freed pages the durable meta may reach: reusable (through `retired`) after the next fsync.
    @exclusivity(unchecked) private(set) var held: [UInt64] = []
    /// Per page number, 1 if a commit wrote it since the last fsync; `unsyncedList` lists them.
    @exclusivity(unchecked) private var unsynced: [UInt8] = []
    @exclusivity(unchecked) private var unsyncedList: [UInt64] = []

    /// Pages holding the committed free list (freed by the next commit).
    @exclusivity(unchecked) private var freeListPages: [UInt64] = []
    /// Pages created by the open transaction.
    @exclusivity(unchecked) private(set) var dirty: [UInt64: Page] = [:]
    /// Where runs of consecutive pages are gathered for one write (1 MiB, kept: a commit per
    /// write group must not allocate it each time).
    private let writeBuffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, (1 << 20) / PageLayout.minimumPageSize) * PageLayout.minimumPageSize, alignment: 64)

    /// The digest and page count of the tree as of the last page written (see `MetaPage`).
    @exclusivity(unchecked) private(set) var treeDigest: UInt64
    @exclusivity(unchecked) private(set) var treePages: UInt64
    /// Commits (metas written) and fsyncs of the data file since open, for statistics and tests.
    @exclusivity(unchecked) private(set) var commitCount = 0
    @exclusivity(unchecked) private(set) var syncCount = 0

    /// A pager over `file` whose newest meta is `meta`, in `slot`. For a checkpoint the free
    /// list is loaded; otherwise the caller supplies the free pages (`adoptFreePages`).
    init(file: any StorageFile, pageSize: Int, cachePages: Int, meta: MetaPage, slot: UInt64) throws(EngineError) {
        self.file = file
        self.path = file.path
        self.pageSize = pageSize
        self.cache = PageCache(capacity: cachePages)
        self.committed = meta
        self.committedSlot = slot
        self.durableSlot = slot
        self.pageCountStorage = Atomic(meta.pageCount)
        self.treeDigest = meta.treeDigest
        self.treePages = meta.treePages
        if meta.isCheckpoint { try loadFreeList() }
    }

    deinit { writeBuffer.deallocate() }

    var dirtyCount: Int { dirty.count }
    var hasChanges: Bool { !dirty.isEmpty || !pending.isEmpty || !held.isEmpty || pageCount != committed.pageCount }
    /// Whether the last meta written is not yet known durable.
    var hasUnsyncedCommit: Bool { committedSlot != durableSlot }

    /// Pages the open transaction replaced that are not reusable yet (`buffered`'s early checkpoint rule).
    var replacedCount: Int { pending.count + held.count }

    /// Sets the digest computed by walking the tree at open, for a meta that had none.
    func adoptDigest(_ digest: UInt64, pages: UInt64) {
        treeDigest = digest
        treePages = pages
    }

    /// Sets the free pages found by walking the tree at open (a group-commit meta stores none),
    /// and the digest computed on the way when the meta had none.
    func adoptFreePages(_ free: [UInt64], digest: UInt64, pages: UInt64) {
        reusable = free.sorted(by: >)
        treeDigest = digest
        treePages = pages
    }

    // MARK: Reading

    /// Page `number`, from the cache or the file, verified.
    /// - Throws: `EngineError.corruption` naming the page, file and offset on a bad checksum,
    ///   page number or type; `.io` on a read error.
    @inline(__always)
    func page(_ number: UInt64) throws(EngineError) -> Page {
        if let p = cache.lookup(number) { return p }
        return try load(number)
    }

    /// The bytes of page `number` for a reader between `cache.enterReader()` and
    /// `cache.exitReader(_:)`: from the cache without a lock or a reference count, else read
    /// from the file and cached. Valid until the reader exits.
    @inline(__always)
    func readerBytes(_ number: UInt64) throws(EngineError) -> UnsafeMutableRawPointer {
        if let bytes = cache.readerBytes(number) { return bytes }
        return try load(number).bytes
    }

    /// Page `number` as a counted reference, for a reader inside a cache reader epoch (no lock).
    @inline(__always)
    func readerPage(_ number: UInt64) throws(EngineError) -> Page {
        if let page = cache.readerPage(number) { return page }
        return try load(number)
    }

    private func load(_ number: UInt64) throws(EngineError) -> Page {
        let offset = Int64(number) * Int64(pageSize)
        guard number >= 2, number < pageCount else {
            throw .corruption(file: path, offset: offset, detail: "page \(number): reference outside the file's \(pageCount) pages")
        }
        let page = Page.make(number: number, size: pageSize)
        let buffer = UnsafeMutableRawBufferPointer(start: page.bytes, count: pageSize)
        var done = 0
        do {
            while done < pageSize {
                let n = try file.read(at: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
                if n == 0 { break }
                done += n
            }
        } catch { throw error.engineError }
        guard done == pageSize else {
            throw .corruption(file: path, offset: offset + Int64(done), detail: "page \(number): file ends after \(done) of \(pageSize) bytes")
        }
        guard page.checksumMatches else {
            throw .corruption(file: path, offset: offset, detail: "page \(number): checksum mismatch")
        }
        guard page.bytes.u64(8) == number else {
            throw .corruption(file: path, offset: offset + 8, detail: "page \(number): header names page \(page.bytes.u64(8))")
        }
        let type = page.bytes.load(fromByteOffset: 4, as: UInt8.self)
        guard type >= PageType.branch.rawValue, type <= PageType.freeList.rawValue else {
            throw .corruption(file: path, offset: offset + 4, detail: "page \(number): unknown page type \(type)")
        }
        return cache.insert(page)
    }

    /// Page `number`, which must be of `type`.
    func page(_ number: UInt64, type: PageType) throws(EngineError) -> Page {
        let p = try page(number)
        guard p.bytes.load(fromByteOffset: 4, as: UInt8.self) == type.rawValue else {
            throw .corruption(file: path, offset: Int64(number) * Int64(pageSize) + 4,
                              detail: "page \(number): type \(p.bytes.load(fromByteOffset: 4, as: UInt8.self)), expected \(type)")
        }
        return p
    }

    // MARK: Allocation

    /// A new empty page of `type`, dirty in the open transaction.
    func allocate(_ type: PageType) -> Page {
        let number: UInt64
        if let n = reusable.popLast() {
            number = n
        } else {
            number = pageCount
            pageCount += 1
        }
        let page = Page.make(number: number, size: pageSize)
        page.isDirty = true
        page.version = currentVersion
        page.node.initialize(type)
        dirty[number] = page
        cache.insert(page)
        return page
    }

    /// Frees `page`: reusable at once if this transaction created it and no pinned reader can
    /// see it; retired if a reader may; else (on disk) pending or held, see the type's comment.
    func free(_ page: Page) {
        let number = page.number
        if let page = dirty.removeValue(forKey: number) {
            if page.version > frozenFloor {
                reusable.append(number)
                cache.remove(number)
            } else {
                retired.append((number, currentVersion))  // stays cached (dirty: never evicted)
            }
        } else {
            // On disk: it leaves the tree's digest (its stored checksum is the one written).
            treeDigest &-= MetaPage.pageDigest(number, page.bytes.u32(0))
            treePages &-= 1
            if number < UInt64(unsynced.count) && unsynced[Int(number)] != 0 { pending.append(number) } else { held.append(number) }
            cache.remove(number)
        }
    }

    /// `page` itself if this transaction created it and no pinned reader can see it; else a
    /// dirty copy under a new number (the caller re-links the parent), with the old one freed.
    @inline(__always)
    func writable(_ page: Page) -> Page {
        if page.isDirty && page.version > frozenFloor {
            // Changed in place from here on: a reader of an earlier, now unpinned version may
            // have indexed it (readers cannot pin while the writer applies a group).
            page.prefixIndex.reset()
            return page
        }
        let copy = allocate(.leaf)
        copy.bytes.copyMemory(from: page.bytes, byteCount: pageSize)
        free(page)
        return copy
    }

    /// Starts write call `version`, with readers pinned at versions `oldest...newest` (nil:
    /// none): frees the retired pages no pinned reader can reach.
    func beginWrite(version: UInt64, pinned: ClosedRange<UInt64>?) {
        currentVersion = version
        frozenFloor = pinned?.upperBound ?? 0
        let oldest = pinned?.lowerBound ?? UInt64.max
        while retiredHead < retired.count && retired[retiredHead].version <= oldest {
            let number = retired[retiredHead].number
            cache.remove(number)
            reusable.append(number)
            retiredHead += 1
        }
        if retiredHead > 1024 && retiredHead * 2 > retired.count {
            retired.removeFirst(retiredHead)
            retiredHead = 0
        }
    }

    // MARK: Overflow chains

    /// Writes `parts` (concatenated) into a new chain of overflow pages.
    /// - Returns: the first page's number.
    func writeChain(_ parts: [UnsafeRawBufferPointer]) -> UInt64 {
        let payload = PageLayout.overflowPayload(pageSize)
        var first: UInt64 = 0
        var previous: Page? = nil
        var current: Page? = nil
        var filled = 0
        for part in parts {
            var offset = 0
            while offset < part.count {
                if current == nil || filled == payload {
                    let next = allocate(.overflow)
                    if let current { current.node.link = next.number; current.bytes.setU16(6, filled) } else { first = next.number }
                    previous = current
                    current = next
                    filled = 0
                }
                let n = min(payload - filled, part.count - offset)
                (current!.bytes + PageLayout.headerSize + filled).copyMemory(from: part.baseAddress! + offset, byteCount: n)
                filled += n
                offset += n
            }
        }
        _ = previous
        if let current { current.bytes.setU16(6, filled) }
        return first
    }

    /// Calls `body` with successive pieces of the chain starting at `first`, skipping `skip`
    /// bytes and stopping after `length` bytes.
    func readChain(_ first: UInt64, skip: Int, length: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) {
        var number = first
        var toSkip = skip
        var left = length
        var hops = 0
        while left > 0 {
            guard number != 0 else {
                throw .corruption(file: path, offset: 0, detail: "overflow chain from page \(first) ends \(left) bytes early")
            }
            let p = try page(number, type: .overflow)
            let n = p.bytes.u16(6)
            guard n <= PageLayout.overflowPayload(pageSize) else {
                throw .corruption(file: path, offset: Int64(number) * Int64(pageSize) + 6, detail: "page \(number): overflow payload \(n) too large")
            }
            if toSkip >= n {
                toSkip -= n
            } else {
                let take = min(n - toSkip, left)
                body(UnsafeRawBufferPointer(start: p.bytes + PageLayout.headerSize + toSkip, count: take))
                left -= take
                toSkip = 0
            }
            number = p.node.link
            hops += 1
            if hops > Int(pageCount) { throw .corruption(file: path, offset: 0, detail: "overflow chain from page \(first) loops") }
        }
    }

    /// The page numbers of the chain starting at `first` holding `bytes` bytes.
    func chainPages(_ first: UInt64, bytes: Int) throws(EngineError) -> [UInt64] {
        var result: [UInt64] = []
        var number = first
        var left = bytes
        while left > 0 && number != 0 {
            let p = try page(number, type: .overflow)
            result.append(number)
            left -= p.bytes.u16(6)
            number = p.node.link
            if result.count > Int(pageCount) { throw .corruption(file: path, offset: 0, detail: "overflow chain from page \(first) loops") }
        }
        return result
    }

    /// Frees the chain starting at `first` holding `bytes` bytes.
    func freeChain(_ first: UInt64, bytes: Int) throws(EngineError) {
        for n in try chainPages(first, bytes: bytes) { free(try page(n)) }
    }

    // MARK: Free list

    private func loadFreeList() throws(EngineError) {
        var number = committed.freeListHead
        var ids: [UInt64] = []
        while number != 0 {
            let p = try page(number, type: .freeList)
            freeListPages.append(number)
            let n = p.bytes.u16(6)
            guard n <= PageLayout.freeListIDs(pageSize) else {
                throw .corruption(file: path, offset: Int64(number) * Int64(pageSize) + 6, detail: "page \(number): free-list count \(n) too large")
            }
            for i in 0..<n { ids.append(p.bytes.u64(PageLayout.headerSize + 8 * i)) }
            number = p.node.link
            if freeListPages.count > Int(pageCount) { throw .corruption(file: path, offset: 0, detail: "free list loops") }
        }
        guard UInt64(ids.count) == committed.freeListCount else {
            throw .corruption(file: path, offset: Int64(committed.freeListHead) * Int64(pageSize),
                              detail: "free list holds \(ids.count) pages, the meta page says \(committed.freeListCount)")
        }
        for id in ids where id < 2 || id >= pageCount {
            throw .corruption(file: path, offset: Int64(committed.freeListHead) * Int64(pageSize), detail: "free list names page \(id) outside the file")
        }
        // Pop low page numbers first: new pages cluster at the start of the file.
        reusable = ids.sorted(by: >)
    }

    /// Every free page: reusable, pending, held, retired, and the pages holding the committed
    /// free list.
    var allFreePages: (free: [UInt64], freeListPages: [UInt64]) {
        (reusable + pending + held + retired[retiredHead...].map(\.number), freeListPages)
    }

    // MARK: Commit

    /// Commits the open transaction as one write group: writes its pages and a group-commit
    /// meta (no free list) into the slot that is not the durable one, with pwrite; with `sync`,
    /// fdatasyncs once, which makes that meta the durable one. Without `sync` the pages and the
    /// meta are in the operating system's hands (a process crash keeps them) and a machine
    /// crash falls back to the durable meta, because open checks a group-commit meta's tree.
    func commitGroup(root: UInt64, height: Int, recordCount: UInt64, sync: Bool) throws(EngineError) {
        // The committed free list's pages are reachable from the durable meta (a checkpoint):
        // the new meta does not name them.
        held.append(contentsOf: freeListPages)
        freeListPages = []
        do {
            try writeDirtyPages()
            var meta = MetaPage()
            meta.transaction = committed.transaction + 1
            meta.root = root
            meta.height = height
            meta.pageCount = pageCount
            meta.recordCount = recordCount
            meta.isCheckpoint = false
            meta.treeDigest = treeDigest
            meta.treePages = treePages
            let slot = 1 - durableSlot
            try writeMeta(meta, slot: slot)
            finishCommit(meta, slot: slot)
            if sync { try syncFile() }
        } catch {
            throw error.engineError
        }
    }

    /// Makes the last meta written durable (fdatasync), if it is not already.
    func syncFile() throws(StorageError) {
        guard committedSlot != durableSlot || !unsyncedList.isEmpty else { return }
        try file.sync()
        syncCount += 1
        becameDurable()
    }

    /// Writes a checkpoint: the open transaction's pages and the free list, fdatasync, the meta
    /// (checkpoint flag) into the slot that is not the durable one, fdatasync. The first fsync
    /// is what lets open trust a checkpoint without walking its tree.
    func checkpoint(root: UInt64, height: Int, recordCount: UInt64) throws(EngineError) {
        // The old free list's pages are reachable from the durable meta, like a replaced page.
        held.append(contentsOf: freeListPages)
        freeListPages = []
        // Pages for the new free list come from what is reusable now; taking them shrinks the
        // list, so the count only goes down.
        let perPage = PageLayout.freeListIDs(pageSize)
        var listPages: [Page] = []
        let retiredNumbers = retired[retiredHead...].map(\.number)
        while listPages.count * perPage < reusable.count + pending.count + held.count + retiredNumbers.count {
            listPages.append(allocate(.freeList))
        }
        var ids = reusable + pending + held + retiredNumbers
        ids.sort()
        var index = 0
        for (k, p) in listPages.enumerated() {
            let n = min(perPage, ids.count - index)
            for i in 0..<n { p.bytes.setU64(PageLayout.headerSize + 8 * i, ids[index + i]) }
            index += n
            p.bytes.setU16(6, n)
            p.node.link = k + 1 < listPages.count ? listPages[k + 1].number : 0
        }

        do {
            try writeDirtyPages()
            try file.sync()
            syncCount += 1
            var meta = MetaPage()
            meta.transaction = committed.transaction + 1
            meta.root = root
            meta.height = height
            meta.pageCount = pageCount
            meta.freeListHead = listPages.first?.number ?? 0
            meta.freeListCount = UInt64(ids.count)
            meta.recordCount = recordCount
            meta.isCheckpoint = true
            meta.treeDigest = treeDigest
            meta.treePages = treePages
            let slot = 1 - durableSlot
            try writeMeta(meta, slot: slot)
            finishCommit(meta, slot: slot)
            try file.sync()
            syncCount += 1
            becameDurable()
        } catch {
            throw error.engineError
        }
        freeListPages = listPages.map(\.number)
    }

    private func writeMeta(_ meta: MetaPage, slot: UInt64) throws(StorageError) {
        let metaPage = Page.make(number: slot, size: pageSize)
        meta.encode(into: metaPage)
        try file.write(at: Int64(slot) * Int64(pageSize), UnsafeRawBufferPointer(start: metaPage.bytes, count: pageSize))
    }

    /// After a meta was written: the transaction's pages are clean, and the pages it freed that
    /// only older unsynced metas reached may be reused once no reader holds them.
    private func finishCommit(_ meta: MetaPage, slot: UInt64) {
        for p in dirty.values { p.isDirty = false }
        dirty.removeAll(keepingCapacity: true)
        committed = meta
        committedSlot = slot
        commitCount += 1
        for n in pending { retired.append((n, currentVersion)) }
        pending.removeAll(keepingCapacity: true)
    }

    /// After an fsync that followed the last meta write: that meta is the durable one, so the
    /// pages only older metas reach may be reused once no reader holds them.
    private func becameDurable() {
        durableSlot = committedSlot
        for n in held { retired.append((n, currentVersion)) }
        held.removeAll(keepingCapacity: true)
        for n in unsyncedList where n < UInt64(unsynced.count) { unsynced[Int(n)] = 0 }
        unsyncedList.removeAll(keepingCapacity: true)
    }

    /// Writes the dirty pages in page order, coalescing runs of consecutive pages.
    private func writeDirtyPages() throws(StorageError) {
        let pages = dirty.values.sorted { $0.number < $1.number }
        let maxRun = max(1, (1 << 20) / pageSize)
        let buffer = writeBuffer
        var i = 0
        while i < pages.count {
            var j = i + 1
            while j < pages.count && j - i < maxRun && pages[j].number == pages[j - 1].number + 1 { j += 1 }
            for k in i..<j {
                let page = pages[k]
                page.seal()
                let number = page.number
                if page.bytes.load(fromByteOffset: 4, as: UInt8.self) != PageType.freeList.rawValue {
                    treeDigest &+= MetaPage.pageDigest(number, page.bytes.u32(0))
                    treePages &+= 1
                }
                if number >= UInt64(unsynced.count) {
                    unsynced.append(contentsOf: repeatElement(0, count: max(Int(number) + 1, unsynced.count * 2, 1024) - unsynced.count))
                }
                if unsynced[Int(number)] == 0 {
                    unsynced[Int(number)] = 1
                    unsyncedList.append(number)
                }
                (buffer + (k - i) * pageSize).copyMemory(from: page.bytes, byteCount: pageSize)
            }
            try file.write(at: Int64(pages[i].number) * Int64(pageSize), UnsafeRawBufferPointer(start: buffer, count: (j - i) * pageSize))
            i = j
        }
    }
}
