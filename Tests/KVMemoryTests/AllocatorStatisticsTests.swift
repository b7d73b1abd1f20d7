// Allocator statistics move with what the program allocates, under either allocator.

import KVMemory
import Synchronization
import Testing

@Suite("Allocator statistics")
struct AllocatorStatisticsTests {
    @Test("a snapshot names the allocator and reports allocated and resident bytes")
    func snapshot() {
        let now = AllocatorStatistics.snapshot()
        #expect(now.allocated > 0)
        #expect(now.resident > 0)
        #expect(now.fragmentationRatio > 0)
        #expect(now.allocator == "libc" || now.allocator.hasPrefix("jemalloc-"))
    }

    // Other tests run in parallel in this process and allocate too, so the process-wide
    // figures move under this test: it checks this thread's own counters (jemalloc), and only
    // a lower bound on the process-wide ones.
    @Test("allocated bytes grow by what this thread allocates and fall when it frees it")
    func allocatedTracksAllocations() throws {
        let size = 64 << 20
        let threadBefore = AllocatorStatistics.threadNetAllocatedBytes()
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 1, count: size)
        // The snapshot first: it may allocate on this thread (a first use keeps a few bytes),
        // which must not fall between the two thread readings around the deallocation.
        let during = AllocatorStatistics.snapshot()
        let threadDuring = AllocatorStatistics.threadNetAllocatedBytes()
        #expect(during.allocated >= size)
        #expect(during.resident >= size)
        block.deallocate()
        let threadAfter = AllocatorStatistics.threadNetAllocatedBytes()
        if let threadBefore, let threadDuring, let threadAfter {
            #expect(threadDuring - threadBefore >= size)
            #expect(threadDuring - threadAfter >= size)
        } else {
            #expect(!during.isJemalloc, "jemalloc keeps per-thread counters")
        }
    }

    @Test("the sampler keeps the peak of the readings it took")
    func samplerPeak() {
        let readings = Mutex<[(allocated: Int, resident: Int)]>([(10, 20), (50, 15), (30, 90), (5, 5)])
        let sampler = MemorySampler(intervalMilliseconds: 1000) {
            readings.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] }
        }
        sampler.start()   // takes the first reading
        sampler.sample()
        sampler.sample()
        let peaks = sampler.stop()
        #expect(peaks.allocated == 50)
        #expect(peaks.resident == 90)
    }
}
