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
    private var map: [UInt64: Int] = [:]
    private var frames: [Page?] = []
    private var freeFrames: [Int] = []
    private var hand = 0
    let capacity: Int
    /// Lookups that found the page, and those that did not (for statistics).
    private(set) var hits = 0
    private(set) var misses = 0

    init(capacity: Int) {
        self.capacity = max(16, capacity)
        map.reserveCapacity(min(self.capacity, 1 << 20))
    }

    /// The cached page `number`, marking it recently used.
    @inline(__always)
    func lookup(_ number: UInt64) -> Page? {
        lock.lock()
        defer { lock.unlock() }
        guard let i = map[number] else { misses &+= 1; return nil }
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
        if let i = map[page.number] {
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
        map[page.number] = frame
        page.referenced = true
        return page
    }

    /// Forgets page `number` (freed, or superseded by a copy).
    func remove(_ number: UInt64) {
        lock.withLock {
            if let i = map.removeValue(forKey: number) {
                frames[i] = nil
                freeFrames.append(i)
            }
        }
    }

    /// Every dirty page, by page number.
    func dirtyPages() -> [Page] {
        lock.withLock { frames.compactMap { $0 }.filter(\.isDirty).sorted { $0.number < $1.number } }
    }

    /// Drops every page.
    func removeAll() {
        lock.withLock {
            map.removeAll()
            frames.removeAll()
            freeFrames.removeAll()
            hand = 0
        }
    }

    var count: Int { lock.withLock { map.count } }

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
            map.removeValue(forKey: page.number)
            frames[i] = nil
            return i
        }
        return nil
    }
}
