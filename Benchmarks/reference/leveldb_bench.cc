// leveldb_bench: the phases of `kvlab bench`, same keys, same order, against LevelDB (Debian's libleveldb-dev).
//
// The reference point for kvlab's `lsm` engine: run `kvlab bench --engine lsm --db DIR` and this
// program with the same --num, --key-size, --value-size and --seed and compare ops/sec as ratios
// (see compare-lsm.sh). Same spec as kvbench_std.cpp (keep the three in step):
// - RNG: KVCore's SeededRandom: xoshiro256** seeded through SplitMix64; nextBelow is Lemire's
//   multiply-shift with rejection. One generator, seeded once, consumed in phase order.
// - Key i: the decimal of i zero-padded to key-size bytes. Value of operation `op`: value-size
//   bytes 'a' + (j % 26) whose first min(8, value-size) bytes are the little-endian `op`.
// - Permutations: Fisher-Yates from the identity, built before the phase's clock starts.
// - Phases: fillseq (fresh database in DIR/bench-1), fillrandom (fresh database in DIR/bench-2,
//   a permutation), overwrite, readrandom (N gets of key nextBelow(N)), readseq (one iterator
//   pass), deleterandom. Writes are not synced (WriteOptions::sync = false), as in kvlab bench,
//   unless --sync true (every Put fsynced: compare with kvlab's lsm under durability=always).
// - The database is opened like kvlab's lsm engine is configured: 4 MiB write buffer, 8 MiB
//   block cache, 4 KiB blocks, a 10-bit bloom filter; compression off unless --compression snappy
//   (kvlab's lsm does not compress).
//
// Build: g++ -O2 -std=c++17 -o Benchmarks/reference/bin/leveldb_bench Benchmarks/reference/leveldb_bench.cc -lleveldb

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kvbench_common.h"

namespace {

// A C++ face on the shared generator (kvbench_common.h).
class SeededRandom {
public:
    explicit SeededRandom(uint64_t seed) { kvbench_seed(&state_, seed); }
    uint64_t next() { return kvbench_next(&state_); }
    uint64_t nextBelow(uint64_t bound) { return kvbench_next_below(&state_, bound); }

private:
    kvbench_random state_;
};

struct Options {
    std::string db;
    uint64_t num = 1000000;
    size_t keySize = 16;
    size_t valueSize = 100;
    uint64_t seed = 301;
    bool snappy = false;
    bool sync = false;
    std::vector<std::string> benchmarks = {"fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "deleterandom"};
};

[[noreturn]] void usage(const std::string& message) {
    std::fprintf(stderr,
                 "leveldb_bench: %s\n"
                 "usage: leveldb_bench --db DIR [--num N] [--key-size K] [--value-size V] [--seed S]\n"
                 "                     [--compression none|snappy] [--sync true|false] [--benchmarks fillseq,fillrandom,overwrite,readrandom,readseq,deleterandom]\n",
                 message.c_str());
    std::exit(2);
}

uint64_t parseUnsigned(const std::string& name, const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-') usage("option --" + name + " expects an unsigned integer, got '" + text + "'");
    return value;
}

Options parseOptions(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0) usage("unexpected argument '" + arg + "'");
        std::string name = arg.substr(2), value;
        const size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        } else {
            if (i + 1 >= argc) usage("option --" + name + " needs a value");
            value = argv[++i];
        }
        if (name == "db") o.db = value;
        else if (name == "num") o.num = parseUnsigned(name, value);
        else if (name == "key-size") o.keySize = parseUnsigned(name, value);
        else if (name == "value-size") o.valueSize = parseUnsigned(name, value);
        else if (name == "seed") o.seed = parseUnsigned(name, value);
        else if (name == "compression") {
            if (value != "none" && value != "snappy") usage("unknown --compression '" + value + "'");
            o.snappy = value == "snappy";
        } else if (name == "sync") {
            if (value != "true" && value != "false") usage("--sync expects true or false, got '" + value + "'");
            o.sync = value == "true";
        } else if (name == "benchmarks") {
            o.benchmarks.clear();
            size_t start = 0;
            while (start <= value.size()) {
                const size_t comma = value.find(',', start);
                const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (item != "fillseq" && item != "fillrandom" && item != "overwrite" && item != "readrandom" && item != "readseq" &&
                    item != "deleterandom") usage("unknown benchmark '" + item + "'");
                o.benchmarks.push_back(item);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        } else usage("unknown option --" + name);
    }
    if (o.db.empty()) usage("--db DIR is required");
    if (o.num == 0) usage("--num must be at least 1");
    size_t digits = 1;
    for (uint64_t rest = o.num - 1; rest >= 10; rest /= 10) digits++;
    if (o.keySize < digits) usage("--key-size is too small for --num");
    return o;
}

inline void writeKey(std::string& key, uint64_t i) { kvbench_write_key(&key[0], key.size(), i); }

inline void stampValue(std::string& value, uint64_t op) { kvbench_stamp_value(&value[0], value.size(), op); }

void permutation(std::vector<uint64_t>& p, uint64_t n, SeededRandom& random) {
    p.resize(n);
    for (uint64_t i = 0; i < n; i++) p[i] = i;
    for (uint64_t i = n - 1; i >= 1 && n > 0; i--) std::swap(p[i], p[random.nextBelow(i + 1)]);
}

using Clock = std::chrono::steady_clock;

struct Report {
    const Options& options;
    Clock::time_point start_;
    void start() { start_ = Clock::now(); }
    void finish(const char* name, uint64_t ops, bool bytesPerSecond, const std::string& extra = "") {
        const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
        std::printf("%-12s : %11.3f micros/op %10.0f ops/sec;", name, seconds * 1e6 / static_cast<double>(ops),
                    static_cast<double>(ops) / seconds);
        if (bytesPerSecond) {
            const double bytes = static_cast<double>(options.keySize + options.valueSize) * static_cast<double>(ops);
            std::printf(" %6.1f MB/s", bytes / 1048576.0 / seconds);
        }
        std::printf("%s\n", extra.c_str());
        std::fflush(stdout);
    }
};

// With LEVELDB_BENCH_STATS set: after a phase, LevelDB's "leveldb.stats" property (tables and
// compaction work per level) and the phase's page faults and CPU time, on stderr (stdout stays
// in the format the comparison scripts parse).
struct PhaseStats {
    rusage last{};
    Clock::time_point lastWall = Clock::now();
    PhaseStats() { getrusage(RUSAGE_SELF, &last); }
    void print(leveldb::DB* db, const char* phase) {
        if (std::getenv("LEVELDB_BENCH_STATS") == nullptr) return;
        rusage now{};
        getrusage(RUSAGE_SELF, &now);
        auto secs = [](const timeval& a, const timeval& b) { return double(a.tv_sec - b.tv_sec) + double(a.tv_usec - b.tv_usec) / 1e6; };
        const auto wall = Clock::now();
        std::fprintf(stderr, "rusage       : minflt %ld majflt %ld nvcsw %ld nivcsw %ld, cpu user %.2f s sys %.2f s over %.2f s wall after %s\n",
                     now.ru_minflt - last.ru_minflt, now.ru_majflt - last.ru_majflt, now.ru_nvcsw - last.ru_nvcsw,
                     now.ru_nivcsw - last.ru_nivcsw, secs(now.ru_utime, last.ru_utime), secs(now.ru_stime, last.ru_stime),
                     std::chrono::duration<double>(wall - lastWall).count(), phase);
        last = now;
        lastWall = wall;
        std::string stats;
        if (db->GetProperty("leveldb.stats", &stats)) std::fprintf(stderr, "leveldb.stats after %s:\n%s", phase, stats.c_str());
        for (int level = 0; level < 7; level++) {
            std::string files;
            if (db->GetProperty("leveldb.num-files-at-level" + std::to_string(level), &files) && files != "0")
                std::fprintf(stderr, "level %d: %s files\n", level, files.c_str());
        }
    }
};

struct Database {
    leveldb::DB* db = nullptr;
    leveldb::Cache* cache = nullptr;
    const leveldb::FilterPolicy* filter = nullptr;

    Database(const Options& o, const std::string& path) {
        std::string command = "rm -rf '" + path + "' && mkdir -p '" + path + "'";
        if (std::system(command.c_str()) != 0) usage("cannot clear " + path);
        leveldb::Options options;
        options.create_if_missing = true;
        options.error_if_exists = true;
        options.write_buffer_size = 4 << 20;
        cache = leveldb::NewLRUCache(8 << 20);
        options.block_cache = cache;
        options.block_size = 4096;
        filter = leveldb::NewBloomFilterPolicy(10);
        options.filter_policy = filter;
        options.compression = o.snappy ? leveldb::kSnappyCompression : leveldb::kNoCompression;
        leveldb::Status s = leveldb::DB::Open(options, path, &db);
        if (!s.ok()) {
            std::fprintf(stderr, "leveldb_bench: open %s: %s\n", path.c_str(), s.ToString().c_str());
            std::exit(1);
        }
    }
    ~Database() {
        delete db;
        delete cache;
        delete filter;
    }
};

void check(const leveldb::Status& s, const char* what) {
    if (!s.ok()) {
        std::fprintf(stderr, "leveldb_bench: %s: %s\n", what, s.ToString().c_str());
        std::exit(1);
    }
}

bool listed(const Options& o, const char* name) {
    for (const auto& b : o.benchmarks)
        if (b == name) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parseOptions(argc, argv);
    std::printf("leveldb_bench: leveldb %d.%d num=%llu key-size=%zu value-size=%zu seed=%llu compression=%s sync=%s\n", leveldb::kMajorVersion,
                leveldb::kMinorVersion, static_cast<unsigned long long>(o.num), o.keySize, o.valueSize,
                static_cast<unsigned long long>(o.seed), o.snappy ? "snappy" : "none", o.sync ? "true" : "false");
    std::fflush(stdout);
    const uint64_t n = o.num;
    SeededRandom random(o.seed);
    Report report{o, {}};
    std::string key(o.keySize, '0');
    std::string value(o.valueSize, '\0');
    for (size_t j = 0; j < o.valueSize; j++) value[j] = static_cast<char>('a' + j % 26);
    std::vector<uint64_t> order;
    leveldb::WriteOptions write;
    write.sync = o.sync;
    leveldb::ReadOptions read;

    if (listed(o, "fillseq")) {
        Database d(o, o.db + "/bench-1");
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, op);
            stampValue(value, op);
            check(d.db->Put(write, key, value), "put");
        }
        report.finish("fillseq", n, true);
    }
    const bool needsFill = listed(o, "fillrandom") || listed(o, "overwrite") || listed(o, "readrandom") || listed(o, "readseq") ||
                           listed(o, "deleterandom");
    if (!needsFill) return 0;
    Database d(o, o.db + "/bench-2");
    permutation(order, n, random);
    PhaseStats phaseStats;
    report.start();
    for (uint64_t op = 0; op < n; op++) {
        writeKey(key, order[op]);
        stampValue(value, op);
        check(d.db->Put(write, key, value), "put");
    }
    if (listed(o, "fillrandom")) report.finish("fillrandom", n, true);
    phaseStats.print(d.db, "fillrandom");

    if (listed(o, "overwrite")) {
        permutation(order, n, random);
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, order[op]);
            stampValue(value, op);
            check(d.db->Put(write, key, value), "put");
        }
        report.finish("overwrite", n, true);
    }
    if (listed(o, "readrandom")) {
        uint64_t found = 0;
        std::string got;
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, random.nextBelow(n));
            if (d.db->Get(read, key, &got).ok()) found++;
        }
        char extra[64];
        std::snprintf(extra, sizeof extra, " (%llu of %llu found)", static_cast<unsigned long long>(found), static_cast<unsigned long long>(n));
        report.finish("readrandom", n, false, extra);
        phaseStats.print(d.db, "readrandom");
    }
    if (listed(o, "readseq")) {
        uint64_t records = 0, bytes = 0;
        report.start();
        leveldb::Iterator* it = d.db->NewIterator(read);
        for (it->SeekToFirst(); it->Valid() && records < n; it->Next()) {
            records++;
            bytes += it->key().size() + it->value().size();
        }
        delete it;
        char extra[64];
        std::snprintf(extra, sizeof extra, " (%llu records)", static_cast<unsigned long long>(records));
        report.finish("readseq", records == 0 ? 1 : records, false, extra);
        if (bytes == 1) std::printf("\n");
    }
    if (listed(o, "deleterandom")) {
        permutation(order, n, random);
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, order[op]);
            check(d.db->Delete(write, key), "delete");
        }
        report.finish("deleterandom", n, false);
    }
    return 0;
}
