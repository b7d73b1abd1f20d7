/* The spec every reference program shares with `kvlab bench` (keep it in step with
 * Sources/KVCore/SeededRandom.swift and Sources/KVBench/BenchBuffers.swift), written once for
 * kvbench_std.cpp, leveldb_bench.cc and lmdb_bench.c:
 * - the RNG: xoshiro256** whose state words come from SplitMix64(seed); next_below(b) is
 *   Lemire's multiply-shift with rejection below (0 - b) % b;
 * - key i: the decimal of i zero-padded on the left to key-size bytes;
 * - the value of operation `op`: its first min(8, value-size) bytes are the little-endian op;
 * - a permutation: Fisher-Yates from the identity, for i from n-1 down to 1, swap p[i] with
 *   p[next_below(i + 1)];
 * - the resident set, from /proc/self/statm. */
#ifndef KVBENCH_COMMON_H
#define KVBENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

typedef struct { uint64_t s0, s1, s2, s3; } kvbench_random;

static inline uint64_t kvbench_split_mix(uint64_t *x) {
    *x += 0x9E3779B97F4A7C15ULL;
    uint64_t z = *x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t kvbench_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline void kvbench_seed(kvbench_random *r, uint64_t seed) {
    uint64_t sm = seed;
    r->s0 = kvbench_split_mix(&sm);
    r->s1 = kvbench_split_mix(&sm);
    r->s2 = kvbench_split_mix(&sm);
    r->s3 = kvbench_split_mix(&sm);
}

static inline uint64_t kvbench_next(kvbench_random *r) {
    const uint64_t result = kvbench_rotl(r->s1 * 5, 7) * 9;
    const uint64_t t = r->s1 << 17;
    r->s2 ^= r->s0;
    r->s3 ^= r->s1;
    r->s1 ^= r->s2;
    r->s0 ^= r->s3;
    r->s2 ^= t;
    r->s3 = kvbench_rotl(r->s3, 45);
    return result;
}

static inline uint64_t kvbench_next_below(kvbench_random *r, uint64_t bound) {
    unsigned __int128 m = (unsigned __int128)kvbench_next(r) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        const uint64_t threshold = (0 - bound) % bound;
        while (low < threshold) {
            m = (unsigned __int128)kvbench_next(r) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Writes key number i into key[0..<key_size]. */
static inline void kvbench_write_key(char *key, size_t key_size, uint64_t i) {
    for (size_t p = key_size; p-- > 0;) {
        key[p] = (char)('0' + i % 10);
        i /= 10;
    }
}

/* Stamps operation `op` into the first bytes of value[0..<value_size]. */
static inline void kvbench_stamp_value(char *value, size_t value_size, uint64_t op) {
    for (size_t b = 0; b < 8 && b < value_size; b++) value[b] = (char)(op >> (8 * b));
}

/* Fills p[0..<n] with a permutation of 0..<n. */
static inline void kvbench_permutation(uint64_t *p, uint64_t n, kvbench_random *r) {
    for (uint64_t i = 0; i < n; i++) p[i] = i;
    for (uint64_t i = n - 1; i >= 1 && n > 0; i--) {
        const uint64_t j = kvbench_next_below(r, i + 1);
        const uint64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* The process's resident set in bytes (0 if /proc is unavailable). */
static inline long kvbench_resident_bytes(void) {
    FILE *file = fopen("/proc/self/statm", "r");
    if (file == NULL) return 0;
    long size_pages = 0, resident_pages = 0;
    if (fscanf(file, "%ld %ld", &size_pages, &resident_pages) != 2) resident_pages = 0;
    fclose(file);
    return resident_pages * sysconf(_SC_PAGESIZE);
}

#endif
