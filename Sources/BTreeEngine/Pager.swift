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
/// A page freed by commit `t` may still be reachable from the meta of `t - 1`, which is the
/// fallback if the meta write of `t` tears, so it becomes reusable only once `t`'s meta is
/// durable (`pending` until the commit). Every commit is durable (data fdatasync, meta write,
/// fdatasync): a meta never points at pages that might not have reached the disk.
///
/// Snapshots. Each write call gets a version; readers pin the version published by the last
/// completed call and read its root without locks. A page created by an earlier call of the
/// open transaction is changed in place only if no pinned reader can see it (its version is
/// above `frozenFloor`, the newest pinned version); otherwise it is copied like a committed
/// page. A freed page some reader may still reach is `retired` with the version that freed it
/// and reused only when every pinned reader is at that version or later (`reclaim`); a
/// retired page never written to disk stays in the cache, pinned, until then.
final class Pager: @unchecked Sendable {
    let file: any StorageFile
    let path: String
    let pageSize: Int
    let cache: PageCache

    /// The last committed meta (what is on disk).
    private(set) var committed: MetaPage
    /// High-water mark of the open transaction (read by readers for bounds checks).
    private let pageCountStorage: Atomic<UInt64>
    var pageCount: UInt64 {
        get { pageCountStorage.load(ordering: .relaxed) }
        set { pageCountStorage.store(newValue, ordering: .relaxed) }
    }
    /// The version of the write call in progress.
    private(set) var currentVersion: UInt64 = 1
    /// The newest version a pinned reader holds (0: none).
    private(set) var frozenFloor: UInt64 = 0
    /// Freed pages a pinned reader may still reach, in the order (and version) they were freed.
    private var retired: [(number: UInt64, version: UInt64)] = []
    private var retiredHead = 0
    /// Free pages that may be overwritten now.
    private(set) var reusable: [UInt64] = []
    /// Pages freed by the open transaction that the last durable meta may still reach.
    private(set) var pending: [UInt64] = []

    /// Pages holding the committed free list (freed by the next commit).
    private var freeListPages: [UInt64] = []
    /// Pages created by the open transaction.
    private(set) var dirty: [UInt64: Page] = [:]

    init(file: any StorageFile, pageSize: Int, cachePages: Int, meta: MetaPage) throws(EngineError) {
        self.file = file
        self.path = file.path
        self.pageSize = pageSize
        self.cache = PageCache(capacity: cachePages)
        self.committed = meta
        self.pageCountStorage = Atomic(meta.pageCount)
        try loadFreeList()
    }

    var dirtyCount: Int { dirty.count }
    var hasChanges: Bool { !dirty.isEmpty || !pending.isEmpty || pageCount != committed.pageCount }

    // MARK: Reading

    /// Page `number`, from the cache or the file, verified.
    /// - Throws: `EngineError.corruption` naming the page, file and offset on a bad checksum,
    ///   page number or type; `.io` on a read error.
    @inline(__always)
    func page(_ number: UInt64) throws(EngineError) -> Page {
        if let p = cache.lookup(number) { return p }
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
        page.referenced = true
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

    /// Frees page `number`: reusable at once if this transaction created it and no pinned
    /// reader can see it; retired if a reader may; pending until the commit if it is on disk.
    func free(_ number: UInt64) {
        if let page = dirty.removeValue(forKey: number) {
            if page.version > frozenFloor {
                reusable.append(number)
                cache.remove(number)
            } else {
                retired.append((number, currentVersion))  // stays cached (dirty: never evicted)
            }
        } else {
            pending.append(number)
            cache.remove(number)
        }
    }

    /// `page` itself if this transaction created it and no pinned reader can see it; else a
    /// dirty copy under a new number (the caller re-links the parent), with the old one freed.
    @inline(__always)
    func writable(_ page: Page) -> Page {
        if page.isDirty && page.version > frozenFloor { return page }
        let copy = allocate(.leaf)
        copy.bytes.copyMemory(from: page.bytes, byteCount: pageSize)
        free(page.number)
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
        for n in try chainPages(first, bytes: bytes) { free(n) }
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

    /// Every free page: reusable, pending, and the pages holding the committed free list.
    var allFreePages: (free: [UInt64], freeListPages: [UInt64]) {
        (reusable + pending + retired[retiredHead...].map(\.number), freeListPages)
    }

    // MARK: Commit

    /// Makes the open transaction durable: writes its pages and the free list, fdatasyncs,
    /// writes the meta page to slot `transaction % 2`, fdatasyncs.
    func commit(root: UInt64, height: Int, recordCount: UInt64) throws(EngineError) {
        // The old free list's pages are reachable from the durable meta: pending, like any page
        // the transaction replaced.
        pending.append(contentsOf: freeListPages)
        freeListPages = []
        // Pages for the new free list come from what is reusable now; taking them shrinks the
        // list, so the count only goes down.
        let perPage = PageLayout.freeListIDs(pageSize)
        var listPages: [Page] = []
        let retiredNumbers = retired[retiredHead...].map(\.number)
        while listPages.count * perPage < reusable.count + pending.count + retiredNumbers.count {
            listPages.append(allocate(.freeList))
        }
        var ids = reusable + pending + retiredNumbers
        ids.sort()
        var index = 0
        for (k, p) in listPages.enumerated() {
            let n = min(perPage, ids.count - index)
            for i in 0..<n { p.bytes.setU64(PageLayout.headerSize + 8 * i, ids[index + i]) }
            index += n
            p.bytes.setU16(6, n)
            p.node.link = k + 1 < listPages.count ? listPages[k + 1].number : 0
        }

        var meta = MetaPage()
        meta.transaction = committed.transaction + 1
        meta.root = root
        meta.height = height
        meta.pageCount = pageCount
        meta.freeListHead = listPages.first?.number ?? 0
        meta.freeListCount = UInt64(ids.count)
        meta.recordCount = recordCount

        do {
            try writeDirtyPages()
            try file.sync()
            let metaPage = Page.make(number: meta.transaction % 2, size: pageSize)
            meta.encode(into: metaPage)
            try file.write(at: Int64(metaPage.number) * Int64(pageSize), UnsafeRawBufferPointer(start: metaPage.bytes, count: pageSize))
            try file.sync()
        } catch {
            throw error.engineError
        }
        for p in dirty.values { p.isDirty = false }
        dirty.removeAll(keepingCapacity: true)
        committed = meta
        freeListPages = listPages.map(\.number)
        // Durable now; a pinned reader may still reach them: reused from the next write call on
        // that no reader older than this one holds back.
        for n in pending { retired.append((n, currentVersion)) }
        pending.removeAll()
    }

    /// Writes the dirty pages in page order, coalescing runs of consecutive pages.
    private func writeDirtyPages() throws(StorageError) {
        let pages = dirty.values.sorted { $0.number < $1.number }
        let maxRun = max(1, (1 << 20) / pageSize)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: maxRun * pageSize, alignment: 64)
        defer { buffer.deallocate() }
        var i = 0
        while i < pages.count {
            var j = i + 1
            while j < pages.count && j - i < maxRun && pages[j].number == pages[j - 1].number + 1 { j += 1 }
            for k in i..<j {
                pages[k].seal()
                (buffer + (k - i) * pageSize).copyMemory(from: pages[k].bytes, byteCount: pageSize)
            }
            try file.write(at: Int64(pages[i].number) * Int64(pageSize), UnsafeRawBufferPointer(start: buffer, count: (j - i) * pageSize))
            i = j
        }
    }
}
