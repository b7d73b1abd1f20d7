// Allocator statistics move with what the program allocates, under either allocator.

import KVMemory
import Testing

@Suite("Allocator statistics")
struct AllocatorStatisticsTests {
    // Other tests run in parallel in this process and allocate too: compare with a margin.
    @Test("allocated bytes grow by what is allocated and fall when it is freed")
    func allocatedTracksAllocations() {
        let before = AllocatorStatistics.snapshot()
        #expect(before.allocated > 0)
        #expect(before.resident > 0)
        let size = 64 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 1, count: size)
        let during = AllocatorStatistics.snapshot()
        #expect(during.allocated - before.allocated >= size * 3 / 4)
        #expect(during.resident - before.resident >= size / 2)
        block.deallocate()
        AllocatorStatistics.releaseFreeMemory()
        let after = AllocatorStatistics.snapshot()
        #expect(during.allocated - after.allocated >= size * 3 / 4)
        #expect(after.fragmentationRatio > 0)
        #expect(after.allocator == "libc" || after.allocator.hasPrefix("jemalloc-"))
    }

    @Test("the sampler keeps the peak of what was allocated while it ran")
    func samplerPeak() {
        let sampler = MemorySampler(intervalMilliseconds: 5)
        sampler.start()
        let base = AllocatorStatistics.snapshot().allocated
        let size = 32 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 2, count: size)
        sampler.sample()
        block.deallocate()
        let peaks = sampler.stop()
        #expect(peaks.allocated >= base + size * 3 / 4)
        #expect(peaks.resident > 0)
    }
}
