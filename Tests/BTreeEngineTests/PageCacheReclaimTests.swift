// The page cache's reader path under eviction races, and limbo draining without new retires.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import BTreeEngine

@Suite("B-tree page cache: reference bits and limbo reclamation")
struct PageCacheReclaimTests {
    func page(_ n: UInt64) -> Page {
        let p = Page.make(number: n, size: 512)
        memset(p.bytes, Int32(n & 0xFF), 512)
        return p
    }

    /// A full cache whose pages 3...17 have their reference bits clear (one CLOCK sweep ran).
    func sweptCache() -> PageCache {
        let cache = PageCache(capacity: 16)
        for n in 2..<18 { cache.insert(page(UInt64(n))) }
        // The 17th insert sweeps every frame (clearing all bits), then evicts page 2.
        cache.insert(page(18))
        return cache
    }

    #if DEBUG
    @Test("a page evicted between a reader's load of its entry and its reference-bit set stays uncached, not cached at address 0")
    func evictionBetweenLoadAndBitSet() throws {
        let cache = sweptCache()
        #expect(cache.readerBytes(2) == nil, "page 2 should have been evicted by the sweep")
        let parity = cache.enterReader()
        // The writer removes page 3 exactly in the reader's window.
        cache.afterReaderLoad = { n in if n == 3 { cache.remove(3) } }
        let bytes = try #require(cache.readerBytes(3))
        cache.afterReaderLoad = nil
        // The reader still reads the old page (kept in limbo by its epoch)...
        #expect(bytes.load(fromByteOffset: 100, as: UInt8.self) == 3)
        cache.exitReader(parity)
        // ...and the table says "not cached": with an OR the entry became 1 and these crashed.
        #expect(cache.readerBytes(3) == nil)
        #expect(cache.lookup(3) == nil)
        cache.insert(page(3))
        let again = try #require(cache.lookup(3))
        #expect(again.bytes.load(fromByteOffset: 7, as: UInt8.self) == 3)
        cache.remove(3)
        #expect(cache.lookup(3) == nil)
    }
    #endif

    @Test("pages evicted under a reader are freed when that reader leaves, with no further eviction")
    func limboDrainsWhenLastReaderLeaves() throws {
        let cache = sweptCache()
        weak var held: Page?
        let parity = cache.enterReader()
        held = cache.readerPage(5)
        for n in 19..<60 { cache.insert(page(UInt64(n))) }
        #expect(cache.readerPage(5) == nil, "page 5 should have been evicted")
        #expect(held != nil, "page 5 was freed under a reader")
        #expect(cache.limboCount > 0)
        cache.exitReader(parity)
        // No insert, remove or eviction after this point: only the reader's exit can reclaim.
        #expect(cache.limboCount == 0)
        #expect(held == nil, "page 5 outlived every reader")
    }

    @Test("removeAll frees every page at once when no reader is inside, and on the last reader's exit otherwise")
    func removeAllDrainsLimbo() throws {
        let idle = sweptCache()
        idle.removeAll()
        #expect(idle.limboCount == 0)
        #expect(idle.count == 0)

        let busy = sweptCache()
        weak var held: Page?
        let parity = busy.enterReader()
        held = busy.readerPage(7)
        busy.removeAll()
        #expect(held != nil, "page 7 was freed under a reader")
        #expect(busy.limboCount >= 16)
        busy.exitReader(parity)
        #expect(busy.limboCount == 0)
        #expect(held == nil)
    }

    @Test("a get of an overflow value reads the chain and calls its body outside the reader epoch")
    func overflowValueReadOutsideEpoch() throws {
        let engine = try openTree(FaultInjectingFileSystem(), pageSize: 512, cacheBytes: 16 << 10)
        let big = (0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try engine.put(key(1), big)
        try engine.put(key(2), Array("small".utf8))
        let cache = try #require(engine.pageCache)
        let bigReaders = try key(1).withUnsafeBytes { k in
            try engine.get(k) { (v: UnsafeRawBufferPointer) -> Int in
                #expect(Array(v) == big)
                return cache.readerCount
            }
        }
        #expect(bigReaders == 0, "the overflow chain was read inside the epoch")
        // An inline value is still handed over in place, inside the epoch (the fast path).
        let smallReaders = try key(2).withUnsafeBytes { k in try engine.get(k) { (_: UnsafeRawBufferPointer) -> Int in cache.readerCount } }
        #expect(smallReaders == 1)
        try engine.close()
    }
}
