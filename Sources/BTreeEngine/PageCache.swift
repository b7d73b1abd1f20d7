// The buffer pool: a bounded map from page number to page, evicting clean pages by CLOCK.

import KVCore

/// Pages in memory, at most `capacity` clean ones (dirty pages of the open write transaction
/// are pinned and may push the total past it until the next commit).
///
/// Eviction is CLOCK (second chance): a hand sweeps the frames; a page looked up since the last
/// sweep has its reference bit cleared and survives, a page not looked up is evicted. Dirty
/// pages are skipped. Readers look pages up concurrently, so the map is behind a mutex; a page
/// evicted while a reader holds it stays alive (reference counted) until the reader lets go.
final class PageCache: @unchecked Sendable {
    private let lock = Lock()
    /// Frame of each page number, -1 when not cached: a flat table indexed by page number
    /// (4 bytes per page of the file) is much cheaper to probe than a hash map.
    private var table: [Int32] = []
    private var cachedCount = 0
    private var frames: ContiguousArray<Page?> = []
    private var freeFrames: [Int] = []
    private var hand = 0
    let capacity: Int
    /// Lookups that found the page, and those that did not (for statistics).
    private(set) var hits = 0
    private(set) var misses = 0

    init(capacity: Int) {
        self.capacity = max(16, capacity)
    }

    @inline(__always)
    private func frame(of number: UInt64) -> Int? {
        guard number < UInt64(table.count) else { return nil }
        let i = table[Int(number)]
        return i < 0 ? nil : Int(i)
    }

    private func setFrame(_ number: UInt64, _ frame: Int?) {
        let n = Int(number)
        if n >= table.count {
            guard frame != nil else { return }
            table.append(contentsOf: repeatElement(-1, count: max(n + 1, table.count * 2) - table.count))
        }
        let old = table[n]
        table[n] = Int32(frame ?? -1)
        if old < 0 && frame != nil { cachedCount += 1 }
        if old >= 0 && frame == nil { cachedCount -= 1 }
    }

    /// The cached page `number`, marking it recently used.
    @inline(__always)
    func lookup(_ number: UInt64) -> Page? {
        lock.lock()
        defer { lock.unlock() }
        guard let i = frame(of: number) else { misses &+= 1; return nil }
        hits &+= 1
        let page = frames[i].unsafelyUnwrapped
        page.referenced = true
        return page
    }

    /// Adds `page`; if another thread cached the same number first, returns that page instead.
    @discardableResult
    func insert(_ page: Page) -> Page {
        lock.lock()
        defer { lock.unlock() }
        if let i = frame(of: page.number) {
            let existing = frames[i]!
            if !page.isDirty { return existing }
            frames[i] = page
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
        setFrame(page.number, frame)
        page.referenced = true
        return page
    }

    /// Forgets page `number` (freed, or superseded by a copy).
    func remove(_ number: UInt64) {
        lock.withLock {
            if let i = frame(of: number) {
                setFrame(number, nil)
                frames[i] = nil
                freeFrames.append(i)
            }
        }
    }

    /// Drops every page.
    func removeAll() {
        lock.withLock {
            table.removeAll()
            cachedCount = 0
            frames.removeAll()
            freeFrames.removeAll()
            hand = 0
        }
    }

    var count: Int { lock.withLock { cachedCount } }

    private func evictOne() -> Int? {
        let n = frames.count
        var steps = 0
        while steps < 2 * n + 1 {
            let i = hand
            hand = hand + 1 == n ? 0 : hand + 1
            steps += 1
            guard let page = frames[i] else { return i }
            if page.isDirty { continue }
            if page.referenced { page.referenced = false; continue }
            setFrame(page.number, nil)
            frames[i] = nil
            return i
        }
        return nil
    }
}
