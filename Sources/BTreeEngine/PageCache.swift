// The buffer pool: a bounded map from page number to page, evicting clean pages by CLOCK, with
// lock-free lookups for readers and epoch-based reclamation of evicted pages.

import KVCore
import Synchronization

/// Pages in memory, at most `capacity` clean ones (dirty pages of the open write transaction
/// are pinned and may push the total past it until the next commit).
///
/// Eviction is CLOCK (second chance): a hand sweeps the frames; a page looked up since the last
/// sweep has its reference bit cleared and survives, a page not looked up is evicted. Dirty
/// pages are skipped. Changes (insert, remove, evict) take `lock`.
///
/// Readers look pages up without the lock and without reference counting (`readerBytes`):
/// the page table is an array of atomic words, one per page number, holding the cached page
/// object's address with the CLOCK reference bit in bit 0 (0: not cached). A reader brackets
/// its lookups with `enterReader()` / `exitReader(_:)`, and a page unlinked from the table
/// (evicted, removed, replaced) or a table outgrown is not freed at once but kept in `limbo`
/// until no reader can still hold it. That is epoch-based reclamation with two epochs (as in
/// Fraser's and the Linux RCU designs): a reader registers in the counter of the current
/// epoch; what is unlinked during epoch `e` goes to limbo `e & 1`; the epoch advances from `g`
/// to `g + 1` only when no reader is registered in epoch `g - 1`, and then limbo `(g - 1) & 1`
/// is freed — every reader that could have seen those pages has left. Reclamation is tried on
/// every retire, at `removeAll`, and by the last reader to leave an epoch while limbo holds
/// something (with a try-lock: a reader never waits for the writer). A reader holding the
/// epoch open for long delays reclamation, so long scans keep strong references to the pages
/// they stand on and re-enter the epoch per leaf (`BTreeCursor`), and a get reads an overflow
/// value's chain after leaving the epoch (`BTree.get`).
///
/// The writer (and readers following overflow chains) use `lookup(_:)`, which takes the lock
/// and returns a counted reference, as before.
final class PageCache: @unchecked Sendable {
    private let lock = Lock()
    /// Address of the page table: one `Int` (its entry count) followed by the entries, each an
    /// `Atomic<UInt>`. Replaced (under `lock`) by a larger copy when a page number outgrows it.
    private let tableAddress: Atomic<UInt>
    @exclusivity(unchecked) private var cachedCount = 0
    /// Frames own the cached pages; a page's `frame` is its index here.
    @exclusivity(unchecked) private var frames: ContiguousArray<Page?> = []
    @exclusivity(unchecked) private var freeFrames: [Int] = []
    @exclusivity(unchecked) private var hand = 0
    let capacity: Int
    /// Distance from a page object's address to its bytes (the same for every page).
    let bytesOffset: Int
    /// Lookups that found the page, and those that did not (for statistics; writer path only).
    @exclusivity(unchecked) private(set) var hits = 0
    @exclusivity(unchecked) private(set) var misses = 0

    // MARK: Epochs

    private let epoch = Atomic<UInt>(0)
    private let readers0 = Atomic<Int>(0)
    private let readers1 = Atomic<Int>(0)
    /// Pages plus tables in limbo (written under `lock`, read without it by `exitReader` to
    /// decide whether the last reader out should try to reclaim).
    private let limboSize = Atomic<Int>(0)
    /// Pages and retired tables unlinked during an epoch of each parity (guarded by `lock`).
    @exclusivity(unchecked) private var limboPages: [[Page]] = [[], []]
    @exclusivity(unchecked) private var limboTables: [[UnsafeMutableRawPointer]] = [[], []]

    init(capacity: Int) {
        self.capacity = max(16, capacity)
        let probe = Page.make(number: 0, size: 16)
        bytesOffset = probe.bytes - Unmanaged.passUnretained(probe).toOpaque()
        tableAddress = Atomic(UInt(bitPattern: Self.makeTable(count: 0)))
    }

    deinit {
        lock.withLock {
            for parity in 0..<2 {
                limboPages[parity].removeAll()
                for t in limboTables[parity] { t.deallocate() }
            }
            frames.removeAll()
            UnsafeMutableRawPointer(bitPattern: tableAddress.load(ordering: .relaxed))!.deallocate()
        }
    }

    /// Registers a reader in the current epoch; pass the result to `exitReader`. Between the
    /// two, addresses returned by `readerBytes` stay valid.
    @inline(__always)
    func enterReader() -> Int {
        while true {
            let g = epoch.load(ordering: .sequentiallyConsistent)
            let parity = Int(g & 1)
            if parity == 0 { readers0.wrappingAdd(1, ordering: .sequentiallyConsistent) } else { readers1.wrappingAdd(1, ordering: .sequentiallyConsistent) }
            // Had the epoch moved on meanwhile, a reclamation may have missed this reader.
            if epoch.load(ordering: .sequentiallyConsistent) == g { return parity }
            exitReader(parity)
        }
    }

    /// Unregisters a reader. The last reader out of an epoch, when something waits in limbo,
    /// tries to reclaim it: otherwise limbo only drained on the next retire, so pages evicted
    /// before a quiet spell (or all of them after `removeAll`) stayed allocated indefinitely.
    @inline(__always)
    func exitReader(_ parity: Int) {
        let left = parity == 0
            ? readers0.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
            : readers1.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
        if left == 0 && limboSize.load(ordering: .sequentiallyConsistent) > 0 { tryReclaim() }
    }

    /// Advances the epoch twice if the lock is free (both limbos can then drain); never waits,
    /// so a reader is not held up behind the writer.
    private func tryReclaim() {
        guard lock.tryLock() else { return }
        defer { lock.unlock() }
        advance()
        advance()
    }

    #if DEBUG
    /// Test seam: called by `readerBytes` between loading a page's entry and setting its
    /// reference bit, so a test can evict the page in that window deterministically.
    nonisolated(unsafe) var afterReaderLoad: ((UInt64) -> Void)?
    #endif

    // MARK: Table

    private static func makeTable(count: Int) -> UnsafeMutableRawPointer {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 8 * (count + 1), alignment: 16)
        raw.storeBytes(of: count, as: Int.self)
        let entries = (raw + 8).bindMemory(to: Atomic<UInt>.self, capacity: count)
        for i in 0..<count { (entries + i).initialize(to: Atomic(0)) }
        return raw
    }

    @inline(__always)
    private var table: (count: Int, entries: UnsafeMutablePointer<Atomic<UInt>>) {
        let raw = UnsafeMutableRawPointer(bitPattern: tableAddress.load(ordering: .acquiring)).unsafelyUnwrapped
        return (raw.load(as: Int.self), (raw + 8).assumingMemoryBound(to: Atomic<UInt>.self))
    }

    /// The entry of page `number` (0: not cached).
    @inline(__always)
    private func entry(_ number: UInt64) -> UInt {
        let t = table
        guard number < UInt64(t.count) else { return 0 }
        return t.entries[Int(number)].load(ordering: .acquiring)
    }

    /// Sets the entry of page `number` (lock held), growing the table if needed.
    private func setEntry(_ number: UInt64, _ value: UInt) {
        var t = table
        let n = Int(number)
        if n >= t.count {
            guard value != 0 else { return }
            let grown = Self.makeTable(count: max(n + 1, t.count * 2, 64))
            let entries = (grown + 8).assumingMemoryBound(to: Atomic<UInt>.self)
            for i in 0..<t.count { entries[i].store(t.entries[i].load(ordering: .relaxed), ordering: .relaxed) }
            let old = UnsafeMutableRawPointer(bitPattern: tableAddress.load(ordering: .relaxed))!
            tableAddress.store(UInt(bitPattern: grown), ordering: .releasing)
            retire(table: old)
            t = table
        }
        let before = t.entries[n].load(ordering: .relaxed)
        t.entries[n].store(value, ordering: .releasing)
        if before == 0 && value != 0 { cachedCount += 1 }
        if before != 0 && value == 0 { cachedCount -= 1 }
    }

    @inline(__always)
    private static func page(at entry: UInt) -> Page {
        Unmanaged<Page>.fromOpaque(UnsafeRawPointer(bitPattern: entry & ~1).unsafelyUnwrapped).takeUnretainedValue()
    }

    @inline(__always)
    private static func entry(of page: Page) -> UInt {
        UInt(bitPattern: Unmanaged.passUnretained(page).toOpaque()) | 1
    }

    // MARK: Lookups

    /// The bytes of cached page `number`, marking it recently used, or nil; no lock, no
    /// reference count. Valid until the caller's `exitReader`.
    @inline(__always)
    func readerBytes(_ number: UInt64) -> UnsafeMutableRawPointer? {
        let t = table
        guard number < UInt64(t.count) else { return nil }
        let e = t.entries[Int(number)].load(ordering: .acquiring)
        if e == 0 { return nil }
        #if DEBUG
        afterReaderLoad?(number)
        #endif
        // Set the reference bit only when clear: a hot page costs a load, not a write. A
        // compare-exchange, not an OR: the writer may have evicted the page since the load
        // (entry now 0, or another page's address), and an OR would turn 0 into 1, "cached at
        // address 0". Failure means the entry changed; the bit is only a hint, so drop it.
        if e & 1 == 0 { _ = t.entries[Int(number)].compareExchange(expected: e, desired: e | 1, ordering: .relaxed) }
        return UnsafeMutableRawPointer(bitPattern: e & ~1).unsafelyUnwrapped + bytesOffset
    }

    /// The cached page `number` (a counted reference) marking it recently used, or nil; takes
    /// the lock (the writer's path, and overflow chains).
    @inline(__always)
    func lookup(_ number: UInt64) -> Page? {
        lock.lock()
        defer { lock.unlock() }
        let e = entry(number)
        guard e != 0 else { misses &+= 1; return nil }
        hits &+= 1
        if e & 1 == 0 { table.entries[Int(number)].bitwiseOr(1, ordering: .relaxed) }
        return Self.page(at: e)
    }

    /// The cached page `number` as a counted reference, without the lock: only between
    /// `enterReader` and `exitReader`, which keep the object alive until the count is taken.
    @inline(__always)
    func readerPage(_ number: UInt64) -> Page? {
        let e = entry(number)
        return e == 0 ? nil : Self.page(at: e)
    }

    // MARK: Changes

    /// Adds `page`; if another thread cached the same number first, returns that page instead.
    @discardableResult
    func insert(_ page: Page) -> Page {
        lock.lock()
        defer { lock.unlock() }
        let e = entry(page.number)
        if e != 0 {
            let existing = Self.page(at: e)
            if !page.isDirty { return existing }
            page.frame = existing.frame
            frames[page.frame] = page
            setEntry(page.number, Self.entry(of: page))
            retire(existing)
            return page
        }
        let frame: Int
        if let f = freeFrames.popLast() {
            frame = f
        } else if frames.count < capacity {
            frames.append(nil)
            frame = frames.count - 1
        } else if let victim = evictOne() {
            frame = victim
        } else {
            frames.append(nil)  // everything is dirty: grow until the commit
            frame = frames.count - 1
        }
        frames[frame] = page
        page.frame = frame
        setEntry(page.number, Self.entry(of: page))
        return page
    }

    /// Forgets page `number` (freed, or superseded by a copy).
    func remove(_ number: UInt64) {
        lock.withLock {
            let e = entry(number)
            guard e != 0 else { return }
            let page = Self.page(at: e)
            setEntry(number, 0)
            frames[page.frame] = nil
            freeFrames.append(page.frame)
            retire(page)
        }
    }

    /// Drops every page.
    func removeAll() {
        lock.withLock {
            for case let page? in frames {
                setEntry(page.number, 0)
                retire(page)
            }
            cachedCount = 0
            frames.removeAll()
            freeFrames.removeAll()
            hand = 0
            // Nothing else may retire for a long time (the engine is closing): free now what
            // no reader holds rather than wait for the next retire.
            advance()
            advance()
        }
    }

    var count: Int { lock.withLock { cachedCount } }

    /// Pages unlinked but not yet freed (tests).
    var limboCount: Int { lock.withLock { limboPages[0].count + limboPages[1].count } }

    /// Readers currently inside an epoch (tests).
    var readerCount: Int { readers0.load(ordering: .sequentiallyConsistent) + readers1.load(ordering: .sequentiallyConsistent) }

    private func evictOne() -> Int? {
        let n = frames.count
        var steps = 0
        let t = table
        while steps < 2 * n + 1 {
            let i = hand
            hand = hand + 1 == n ? 0 : hand + 1
            steps += 1
            guard let page = frames[i] else { return i }
            if page.isDirty { continue }
            let slot = Int(page.number)
            if t.entries[slot].load(ordering: .relaxed) & 1 != 0 {
                t.entries[slot].bitwiseAnd(~1, ordering: .relaxed)
                continue
            }
            setEntry(page.number, 0)
            frames[i] = nil
            retire(page)
            return i
        }
        return nil
    }

    // MARK: Reclamation (lock held)

    private func retire(_ page: Page) {
        limboPages[Int(epoch.load(ordering: .sequentiallyConsistent) & 1)].append(page)
        limboSize.wrappingAdd(1, ordering: .sequentiallyConsistent)
        advance()
    }

    private func retire(table: UnsafeMutableRawPointer) {
        limboTables[Int(epoch.load(ordering: .sequentiallyConsistent) & 1)].append(table)
        limboSize.wrappingAdd(1, ordering: .sequentiallyConsistent)
        advance()
    }

    /// Moves the epoch from `g` to `g + 1` if no reader of epoch `g - 1` remains, freeing what
    /// was unlinked during `g - 1`.
    private func advance() {
        let g = epoch.load(ordering: .sequentiallyConsistent)
        let previous = Int((g &+ 1) & 1)
        let registered = previous == 0 ? readers0.load(ordering: .sequentiallyConsistent) : readers1.load(ordering: .sequentiallyConsistent)
        guard registered == 0 else { return }
        limboSize.wrappingSubtract(limboPages[previous].count + limboTables[previous].count, ordering: .relaxed)
        limboPages[previous].removeAll(keepingCapacity: true)
        for t in limboTables[previous] { t.deallocate() }
        limboTables[previous].removeAll(keepingCapacity: true)
        epoch.store(g &+ 1, ordering: .sequentiallyConsistent)
    }
}
