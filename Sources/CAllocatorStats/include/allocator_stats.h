// Statistics from whichever allocator the process runs on: jemalloc (found by its mallctl
// symbol, whether linked or LD_PRELOADed) or glibc's malloc (mallinfo2).
#ifndef KVLAB_ALLOCATOR_STATS_H
#define KVLAB_ALLOCATOR_STATS_H

#include <stddef.h>

typedef struct {
    /// 1 when jemalloc serves malloc, 0 for glibc.
    int is_jemalloc;
    /// Bytes the application holds (jemalloc stats.allocated; glibc in-use chunks + mmapped).
    size_t allocated;
    /// Bytes in pages the allocator has in use (jemalloc stats.active; glibc arena + mmapped).
    size_t active;
    /// Bytes of allocator memory resident (jemalloc stats.resident; glibc: 0, use the RSS).
    size_t resident;
    /// Bytes mapped by the allocator (jemalloc stats.mapped; glibc arena + mmapped).
    size_t mapped;
    /// "jemalloc-5.3.0-..." or "libc".
    const char *name;
} kvlab_allocator_stats;

/// Fills `out`; returns 0 on success.
int kvlab_allocator_stats_read(kvlab_allocator_stats *out);

/// Bytes allocated and freed so far by the calling thread (jemalloc's thread.allocated and
/// thread.deallocated); returns 0 on success, -1 when the allocator does not count per thread.
int kvlab_thread_allocation_counters(unsigned long long *allocated, unsigned long long *deallocated);

/// Returns freed memory to the system now (jemalloc: purge every arena; glibc: malloc_trim).
void kvlab_allocator_release_free_memory(void);

#endif
