// A process-wide count of memory engines map themselves (mmap), which allocator statistics do not see.
import Synchronization

/// Anonymous memory an engine maps itself with `mmap` instead of taking it from malloc (the
/// hash engine's record slabs and large slot tables).
///
/// jemalloc's `stats.allocated` and glibc's `mallinfo2` count only what passes through the
/// allocator, so without this count an engine that maps its slabs would look almost free in
/// `kvlab bench`'s memory line and in a result file's `peakAllocatedBytes`.
/// `AllocatorStatistics.snapshot()` adds it to the allocated and active figures. Callers report
/// every successful map and every unmap with the same length.
public enum DirectMappings {
    private static let mappedBytes = Atomic<Int>(0)

    /// Records `bytes` newly mapped.
    @inlinable public static func didMap(_ bytes: Int) { record(bytes) }

    /// Records `bytes` unmapped.
    @inlinable public static func didUnmap(_ bytes: Int) { record(-bytes) }

    @usableFromInline static func record(_ delta: Int) {
        mappedBytes.add(delta, ordering: .relaxed)
    }

    /// The bytes mapped now.
    public static var bytes: Int { mappedBytes.load(ordering: .relaxed) }
}
