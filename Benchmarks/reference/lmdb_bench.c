// lmdb_bench: the phases of `kvlab bench` over LMDB (Debian liblmdb-dev), same keys, same order,
// same output lines, as the reference for kvlab's btree engine (see compare_btree.sh).
//
// Spec shared with `kvlab bench` and kvbench_std.cpp (keep the three in step): the RNG is
// KVCore's SeededRandom (xoshiro256** seeded through SplitMix64; next(below:) is Lemire's
// method), key i is its decimal zero-padded to key-size bytes, the value of operation `op` is
// value-size bytes 'a' + (j % 26) with the first min(8, value-size) bytes the little-endian op,
// permutations are Fisher-Yates from the identity, built before the clock starts. Phases, in
// order, each if listed: fillseq (fresh database), fillrandom (fresh database, a permutation),
// overwrite, readrandom (N gets of key next(below: N)), readseq (one cursor pass),
// deleterandom. The fillrandom fill runs whenever a later phase is listed.
//
// Durability setting, stated because it decides the write numbers: by default (--sync nosync)
// the environment is opened with MDB_NOSYNC (no fsync at commit; LMDB still writes every dirty
// page and the meta page with pwrite at each commit; LMDB documents that a system crash may
// then corrupt the database); --sync sync opens it without, so every commit fsyncs (data,
// then meta), the analogue of kvlab's durability=always. --txn op (default) commits one write transaction per put or
// delete, the analogue of kvlab's one atomic, immediately visible write per call; --txn phase
// commits a whole phase as one transaction. Each get runs in its own read transaction
// (mdb_txn_reset/renew, LMDB's cheap path). Every fill uses a fresh subdirectory of --db.
//
// Build: cc -O2 -o Benchmarks/reference/bin/lmdb_bench Benchmarks/reference/lmdb_bench.c -llmdb

#include <lmdb.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvbench_common.h"

// The RNG, keys, values, permutations and resident set: kvbench_common.h (shared spec).
typedef kvbench_random SeededRandom;
#define seedRandom kvbench_seed
#define nextBelow kvbench_next_below

// MARK: - Options

static uint64_t num = 1000000;
static size_t keySize = 16, valueSize = 100;
static uint64_t seed = 301;
static const char *db = NULL;
static int perPhaseTxn = 0;
static int syncCommits = 0;
static char benchmarks[256] = "fillseq,fillrandom,overwrite,readrandom,readseq,deleterandom";

static void usage(const char *message) {
    fprintf(stderr,
            "lmdb_bench: %s\n"
            "usage: lmdb_bench --db DIR [--num N] [--key-size K] [--value-size V] [--seed S] [--txn op|phase] [--sync nosync|sync]\n"
            "                  [--benchmarks fillseq,fillrandom,overwrite,readrandom,readseq,deleterandom]\n",
            message);
    exit(2);
}

static int listed(const char *name) {
    char copy[256];
    snprintf(copy, sizeof copy, "%s", benchmarks);
    for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
        if (strcmp(item, name) == 0) return 1;
    }
    return 0;
}

// MARK: - Keys, values, permutations

static void writeKey(char *key, uint64_t i) { kvbench_write_key(key, keySize, i); }

static void stampValue(char *value, uint64_t op) { kvbench_stamp_value(value, valueSize, op); }

static void permutation(uint64_t *p, uint64_t n, SeededRandom *r) { kvbench_permutation(p, n, r); }

// MARK: - Measuring

static long residentBytes(void) { return kvbench_resident_bytes(); }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double started;

static void finish(const char *name, uint64_t ops, int bytesPerSecond, const char *extra) {
    const double seconds = now() - started;
    printf("%-12s : %11.3f micros/op %10.0f ops/sec;", name, seconds * 1e6 / (double)ops, (double)ops / seconds);
    if (bytesPerSecond) printf(" %6.1f MB/s", (double)(keySize + valueSize) * (double)ops / 1048576.0 / seconds);
    printf("%s\n", extra);
    fflush(stdout);
}

static void check(int rc, const char *what) {
    if (rc != 0) {
        fprintf(stderr, "lmdb_bench: %s: %s\n", what, mdb_strerror(rc));
        exit(1);
    }
}

// MARK: - LMDB

typedef struct {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;  // the open phase transaction (--txn phase)
} Store;

static int opened = 0;

static void openStore(Store *s) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bench-%d", db, ++opened);
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", path);
    if (system(command) != 0) usage("cannot clear the database directory");
    if (mkdir(path, 0755) != 0 && errno != EEXIST) usage("cannot create the database directory");
    check(mdb_env_create(&s->env), "mdb_env_create");
    check(mdb_env_set_mapsize(s->env, (size_t)64 << 30), "mdb_env_set_mapsize");
    check(mdb_env_open(s->env, path, syncCommits ? 0 : MDB_NOSYNC, 0644), "mdb_env_open");
    MDB_txn *txn;
    check(mdb_txn_begin(s->env, NULL, 0, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, NULL, 0, &s->dbi), "mdb_dbi_open");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
    s->txn = NULL;
}

static void closeStore(Store *s) {
    mdb_dbi_close(s->env, s->dbi);
    mdb_env_close(s->env);
}

static MDB_txn *writeTxn(Store *s) {
    if (s->txn) return s->txn;
    MDB_txn *txn;
    check(mdb_txn_begin(s->env, NULL, 0, &txn), "mdb_txn_begin");
    if (perPhaseTxn) s->txn = txn;
    return txn;
}

static void endWrite(Store *s, MDB_txn *txn) {
    if (!perPhaseTxn) check(mdb_txn_commit(txn), "mdb_txn_commit");
}

static void endPhase(Store *s) {
    if (s->txn) {
        check(mdb_txn_commit(s->txn), "mdb_txn_commit");
        s->txn = NULL;
    }
}

static void put(Store *s, char *key, char *value) {
    MDB_val k = {keySize, key}, v = {valueSize, value};
    MDB_txn *txn = writeTxn(s);
    check(mdb_put(txn, s->dbi, &k, &v, 0), "mdb_put");
    endWrite(s, txn);
}

static void fill(Store *s, const uint64_t *order, char *key, char *value) {
    for (uint64_t op = 0; op < num; op++) {
        writeKey(key, order ? order[op] : op);
        stampValue(value, op);
        put(s, key, value);
    }
    endPhase(s);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0 || i + 1 >= argc) usage("expected --name value pairs");
        const char *name = arg + 2, *value = argv[++i];
        if (strcmp(name, "num") == 0) num = strtoull(value, NULL, 10);
        else if (strcmp(name, "key-size") == 0) keySize = strtoull(value, NULL, 10);
        else if (strcmp(name, "value-size") == 0) valueSize = strtoull(value, NULL, 10);
        else if (strcmp(name, "seed") == 0) seed = strtoull(value, NULL, 10);
        else if (strcmp(name, "db") == 0) db = value;
        else if (strcmp(name, "txn") == 0) {
            if (strcmp(value, "op") != 0 && strcmp(value, "phase") != 0) usage("--txn is op or phase");
            perPhaseTxn = strcmp(value, "phase") == 0;
        } else if (strcmp(name, "sync") == 0) {
            if (strcmp(value, "nosync") != 0 && strcmp(value, "sync") != 0) usage("--sync is nosync or sync");
            syncCommits = strcmp(value, "sync") == 0;
        } else if (strcmp(name, "benchmarks") == 0) snprintf(benchmarks, sizeof benchmarks, "%s", value);
        else usage("unknown option");
    }
    if (!db) usage("--db DIR is required");
    if (num == 0) usage("--num must be at least 1");
    mkdir(db, 0755);
    printf("lmdb_bench: num=%" PRIu64 " key-size=%zu value-size=%zu seed=%" PRIu64 " txn=%s sync=%s %s\n", num, keySize,
           valueSize, seed, perPhaseTxn ? "phase" : "op", syncCommits ? "fsync-per-commit" : "MDB_NOSYNC", mdb_version(NULL, NULL, NULL));
    fflush(stdout);

    SeededRandom random;
    seedRandom(&random, seed);
    char *key = malloc(keySize);
    char *value = malloc(valueSize);
    for (size_t j = 0; j < valueSize; j++) value[j] = (char)('a' + j % 26);
    uint64_t *order = malloc(sizeof(uint64_t) * num);
    int memoryReported = 0;
    const int raw = (int)(keySize + valueSize);

    if (listed("fillseq")) {
        Store s;
        openStore(&s);
        const long before = residentBytes();
        started = now();
        fill(&s, NULL, key, value);
        finish("fillseq", num, 1, "");
        const double per = (double)(residentBytes() - before) / (double)num;
        printf("memory       : rss-delta %.1f bytes/record (%.2fx raw %d bytes) after fillseq\n", per, per / raw, raw);
        memoryReported = 1;
        closeStore(&s);
    }
    const int needsFill = listed("fillrandom") || listed("overwrite") || listed("readrandom") || listed("readseq") || listed("deleterandom");
    if (!needsFill) return 0;

    Store s;
    openStore(&s);
    permutation(order, num, &random);
    const long before = residentBytes();
    started = now();
    fill(&s, order, key, value);
    if (listed("fillrandom")) finish("fillrandom", num, 1, "");
    if (!memoryReported) {
        const double per = (double)(residentBytes() - before) / (double)num;
        printf("memory       : rss-delta %.1f bytes/record (%.2fx raw %d bytes) after fillrandom\n", per, per / raw, raw);
    }

    if (listed("overwrite")) {
        permutation(order, num, &random);
        started = now();
        fill(&s, order, key, value);
        finish("overwrite", num, 1, "");
    }

    if (listed("readrandom")) {
        uint64_t found = 0, bytes = 0;
        MDB_txn *txn;
        check(mdb_txn_begin(s.env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
        mdb_txn_reset(txn);
        started = now();
        for (uint64_t op = 0; op < num; op++) {
            writeKey(key, nextBelow(&random, num));
            check(mdb_txn_renew(txn), "mdb_txn_renew");
            MDB_val k = {keySize, key}, v;
            if (mdb_get(txn, s.dbi, &k, &v) == 0) {
                found++;
                bytes += v.mv_size;
            }
            mdb_txn_reset(txn);
        }
        char extra[64];
        snprintf(extra, sizeof extra, " (%" PRIu64 " of %" PRIu64 " found)", found, num);
        finish("readrandom", num, 0, extra);
        mdb_txn_abort(txn);
        if (bytes == 1) printf("\n");
    }

    if (listed("readseq")) {
        uint64_t records = 0, bytes = 0;
        MDB_txn *txn;
        MDB_cursor *cursor;
        started = now();
        check(mdb_txn_begin(s.env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
        check(mdb_cursor_open(txn, s.dbi, &cursor), "mdb_cursor_open");
        MDB_val k, v;
        int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
        while (rc == 0) {
            records++;
            bytes += k.mv_size + v.mv_size;
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cursor);
        mdb_txn_abort(txn);
        char extra[64];
        snprintf(extra, sizeof extra, " (%" PRIu64 " records)", records);
        finish("readseq", records == 0 ? 1 : records, 0, extra);
        if (bytes == 1) printf("\n");
    }

    if (listed("deleterandom")) {
        permutation(order, num, &random);
        uint64_t existed = 0;
        started = now();
        for (uint64_t op = 0; op < num; op++) {
            writeKey(key, order[op]);
            MDB_val k = {keySize, key};
            MDB_txn *txn = writeTxn(&s);
            if (mdb_del(txn, s.dbi, &k, NULL) == 0) existed++;
            endWrite(&s, txn);
        }
        endPhase(&s);
        char extra[64];
        snprintf(extra, sizeof extra, " (%" PRIu64 " of %" PRIu64 " existed)", existed, num);
        finish("deleterandom", num, 0, extra);
    }
    closeStore(&s);
    return 0;
}
