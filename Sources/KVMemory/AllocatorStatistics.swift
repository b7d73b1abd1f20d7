// Memory as the allocator and the kernel see it: what Redis reports as used_memory and RSS.

import CAllocatorStats
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import KVCore

/// One reading of the process's memory.
public struct MemorySnapshot: Sendable, Equatable, Codable {
    /// The allocator: "jemalloc" (with its version) or "libc".
    public var allocator: String
    /// Bytes the program holds (Redis's `used_memory`, `allocator_allocated`), plus the memory
    /// engines map themselves (`DirectMappings`).
    public var allocated: Int
    /// Bytes in pages in use by the allocator (`allocator_active`).
    public var active: Int
    /// Allocator bytes resident in RAM (`allocator_resident`); the RSS under glibc, which does not say.
    public var allocatorResident: Int
    /// Bytes mapped by the allocator.
    public var mapped: Int
    /// The process's resident set (`used_memory_rss`).
    public var resident: Int

    /// Redis's `mem_fragmentation_ratio`: resident set over allocated bytes.
    public var fragmentationRatio: Double {
        allocated == 0 ? 0 : Double(resident) / Double(allocated)
    }

    /// True when jemalloc serves malloc.
    public var isJemalloc: Bool { allocator.hasPrefix("jemalloc") }
}

/// Reads allocator statistics from jemalloc's `mallctl` when jemalloc is the allocator (linked
/// or preloaded), from glibc's `mallinfo2` otherwise, plus the resident set from `/proc`.
public enum AllocatorStatistics {
    /// Gives freed memory back to the system (jemalloc purges its arenas, glibc trims), so the
    /// resident set afterwards reflects what is in use.
    public static func releaseFreeMemory() {
        kvlab_allocator_release_free_memory()
    }

    /// Bytes the calling thread has allocated minus what it has freed, since it started
    /// (jemalloc's per-thread counters); nil under allocators that do not keep them.
    public static func threadNetAllocatedBytes() -> Int? {
        var allocated: UInt64 = 0, deallocated: UInt64 = 0
        guard kvlab_thread_allocation_counters(&allocated, &deallocated) == 0 else { return nil }
        return Int(truncatingIfNeeded: allocated &- deallocated)
    }

    /// The current reading.
    public static func snapshot() -> MemorySnapshot {
        var stats = kvlab_allocator_stats()
        _ = kvlab_allocator_stats_read(&stats)
        let rss = ProcessMemory.residentBytes() ?? 0
        // jemalloc's version reads "5.3.0-0-g<commit>": keep the release number.
        let name = stats.name.map { String(cString: $0).split(separator: "-").first.map(String.init) ?? "" } ?? "unknown"
        let isJemalloc = stats.is_jemalloc != 0
        // Memory engines map themselves is held by the program as much as malloc'd memory is.
        let direct = DirectMappings.bytes
        return MemorySnapshot(allocator: isJemalloc ? "jemalloc-" + name : name,
                              allocated: Int(stats.allocated) + direct, active: Int(stats.active) + direct,
                              allocatorResident: isJemalloc ? Int(stats.resident) : rss,
                              mapped: Int(stats.mapped), resident: rss)
    }
}

/// Samples memory on a background thread and keeps the peaks (for a run's result file).
public final class MemorySampler: Sendable {
    private let peaks = Mutex<(allocated: Int, resident: Int)>((0, 0))
    private let running = Atomic<Bool>(false)
    private let intervalMicros: UInt32
    private let read: @Sendable () -> (allocated: Int, resident: Int)

    /// - Parameters:
    ///   - intervalMilliseconds: time between samples.
    ///   - read: the reading to sample (the process's allocator statistics unless a test passes its own).
    public init(intervalMilliseconds: UInt32 = 100,
                read: @escaping @Sendable () -> (allocated: Int, resident: Int) = {
                    let s = AllocatorStatistics.snapshot()
                    return (s.allocated, s.resident)
                }) {
        intervalMicros = intervalMilliseconds * 1000
        self.read = read
    }

    /// Starts sampling on its own thread.
    public func start() {
        running.store(true, ordering: .sequentiallyConsistent)
        sample()
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        pthread_create(&thread, nil, { raw in
            let sampler = Unmanaged<MemorySampler>.fromOpaque(raw!).takeRetainedValue()
            while sampler.running.load(ordering: .sequentiallyConsistent) {
                usleep(sampler.intervalMicros)
                sampler.sample()
            }
            return nil
        }, box.toOpaque())
        pthread_detach(thread)
    }

    /// Stops sampling (after one last sample) and returns the peaks.
    public func stop() -> (allocated: Int, resident: Int) {
        sample()
        running.store(false, ordering: .sequentiallyConsistent)
        return peaks.withLock { $0 }
    }

    /// Takes one sample now.
    public func sample() {
        let now = read()
        peaks.withLock { peak in
            peak.allocated = max(peak.allocated, now.allocated)
            peak.resident = max(peak.resident, now.resident)
        }
    }
}
