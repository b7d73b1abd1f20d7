// See allocator_stats.h. jemalloc's mallctl is looked up at run time, so one build reports on
// either allocator (linked jemalloc, LD_PRELOADed jemalloc, or glibc).
#define _GNU_SOURCE
#include "allocator_stats.h"
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static size_t read_size(mallctl_fn mallctl, const char *name) {
    size_t value = 0;
    size_t length = sizeof(value);
    if (mallctl(name, &value, &length, NULL, 0) != 0) return 0;
    return value;
}

int kvlab_allocator_stats_read(kvlab_allocator_stats *out) {
    memset(out, 0, sizeof(*out));
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (mallctl != NULL) {
        // Statistics are cached per epoch: advance it first.
        uint64_t epoch = 1;
        size_t length = sizeof(epoch);
        mallctl("epoch", &epoch, &length, &epoch, length);
        out->is_jemalloc = 1;
        out->allocated = read_size(mallctl, "stats.allocated");
        out->active = read_size(mallctl, "stats.active");
        out->resident = read_size(mallctl, "stats.resident");
        out->mapped = read_size(mallctl, "stats.mapped");
        const char *version = NULL;
        size_t versionLength = sizeof(version);
        if (mallctl("version", &version, &versionLength, NULL, 0) != 0) version = NULL;
        out->name = version != NULL ? version : "jemalloc";
        return 0;
    }
    struct mallinfo2 info = mallinfo2();
    out->is_jemalloc = 0;
    out->allocated = info.uordblks + info.hblkhd;
    out->active = info.arena + info.hblkhd;
    out->resident = 0;
    out->mapped = info.arena + info.hblkhd;
    out->name = "libc";
    return 0;
}

void kvlab_allocator_release_free_memory(void) {
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (mallctl != NULL) {
        // "arena.<MALLCTL_ARENAS_ALL>.purge", MALLCTL_ARENAS_ALL being 4096.
        mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
        return;
    }
    malloc_trim(0);
}

int kvlab_thread_allocation_counters(unsigned long long *allocated, unsigned long long *deallocated) {
    mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    if (mallctl == NULL) return -1;
    uint64_t a = 0, d = 0;
    size_t length = sizeof(a);
    if (mallctl("thread.allocated", &a, &length, NULL, 0) != 0) return -1;
    length = sizeof(d);
    if (mallctl("thread.deallocated", &d, &length, NULL, 0) != 0) return -1;
    *allocated = a;
    *deallocated = d;
    return 0;
}
