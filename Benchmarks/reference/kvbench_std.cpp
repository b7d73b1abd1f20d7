// kvbench_std: the phases of `kvlab bench`, same keys, same order, over std::unordered_map or std::map.
//
// A reference point for kvlab's in-memory engines: run both with the same --num, --key-size,
// --value-size and --seed and compare ops/sec as ratios (see compare.sh).
//
// Spec shared with `kvlab bench` (keep the two in step):
// - RNG: KVCore's SeededRandom: xoshiro256** whose four state words come from SplitMix64(seed);
//   next(below: b) is Lemire's multiply-shift with rejection below (0 - b) % b. One generator,
//   seeded once, consumed in phase order.
// - Key i: the decimal of i, zero-padded on the left to key-size bytes ("%016d" for 16).
// - Value of operation `op` (its index within the phase): value-size bytes 'a' + (j % 26), whose
//   first min(8, value-size) bytes are overwritten with the little-endian uint64 `op`. Only those
//   bytes are rewritten per operation, so building a value costs O(1), not O(value-size).
// - A permutation is Fisher-Yates over p = 0, 1, ..., N-1 (each permutation starts from the
//   identity): for i from N-1 down to 1, j = next(below: i+1), swap(p[i], p[j]). It is built
//   before the phase's clock starts; readrandom draws its keys inside the timed loop.
// - Phases, in this order, each if listed: fillseq (fresh map, keys 0..N-1 in order, map
//   destroyed after), fillrandom (fresh map, a permutation), overwrite (same map, a new
//   permutation), readrandom (N gets of key next(below: N)), readseq (iterate the map),
//   deleterandom (a new permutation, erase each). The fillrandom fill runs whenever any later
//   phase is listed; its line is printed only if it is listed.
//
// Build: g++ -O2 -std=c++17 -o Benchmarks/reference/bin/kvbench_std Benchmarks/reference/kvbench_std.cpp

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
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

// MARK: - Options

struct Options {
    std::string impl = "unordered_map";
    uint64_t num = 1000000;
    size_t keySize = 16;
    size_t valueSize = 100;
    uint64_t seed = 301;
    std::vector<std::string> benchmarks = {"fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "deleterandom"};
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(stderr,
                 "kvbench_std: %s\n"
                 "usage: kvbench_std [--impl unordered_map|map] [--num N] [--key-size K] [--value-size V]\n"
                 "                   [--seed S] [--benchmarks fillseq,fillrandom,overwrite,readrandom,readseq,deleterandom]\n",
                 message);
    std::exit(2);
}

uint64_t parseUnsigned(const std::string& name, const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || text[0] == '-') {
        usage(("option --" + name + " expects an unsigned integer, got '" + text + "'").c_str());
    }
    return value;
}

Options parseOptions(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0) usage(("unexpected argument '" + arg + "'").c_str());
        std::string name = arg.substr(2);
        std::string value;
        const size_t eq = name.find('=');
        if (eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        } else {
            if (name == "help") usage("help");
            if (i + 1 >= argc) usage(("option --" + name + " needs a value").c_str());
            value = argv[++i];
        }
        if (name == "impl") {
            if (value != "unordered_map" && value != "map") usage(("unknown --impl '" + value + "'").c_str());
            options.impl = value;
        } else if (name == "num") {
            options.num = parseUnsigned(name, value);
        } else if (name == "key-size") {
            options.keySize = parseUnsigned(name, value);
        } else if (name == "value-size") {
            options.valueSize = parseUnsigned(name, value);
        } else if (name == "seed") {
            options.seed = parseUnsigned(name, value);
        } else if (name == "benchmarks") {
            options.benchmarks.clear();
            size_t start = 0;
            while (start <= value.size()) {
                const size_t comma = value.find(',', start);
                const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (item != "fillseq" && item != "fillrandom" && item != "overwrite" && item != "readrandom" &&
                    item != "readseq" && item != "deleterandom") {
                    usage(("unknown benchmark '" + item + "'").c_str());
                }
                options.benchmarks.push_back(item);
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
        } else {
            usage(("unknown option --" + name).c_str());
        }
    }
    if (options.num == 0) usage("--num must be at least 1");
    // Every key 0..N-1 must fit in key-size digits (no truncation to the last digits).
    size_t digits = 1;
    for (uint64_t rest = options.num - 1; rest >= 10; rest /= 10) digits++;
    if (options.keySize < digits) {
        usage(("--key-size " + std::to_string(options.keySize) + " is too small: keys up to " +
               std::to_string(options.num - 1) + " need " + std::to_string(digits) + " digits")
                  .c_str());
    }
    return options;
}

// MARK: - Keys, values, permutations

inline void writeKey(std::string& key, uint64_t i) { kvbench_write_key(&key[0], key.size(), i); }

inline void stampValue(std::string& value, uint64_t op) { kvbench_stamp_value(&value[0], value.size(), op); }

void permutation(std::vector<uint64_t>& p, uint64_t n, SeededRandom& random) {
    p.resize(n);
    for (uint64_t i = 0; i < n; i++) p[i] = i;
    for (uint64_t i = n - 1; i >= 1 && n > 0; i--) std::swap(p[i], p[random.nextBelow(i + 1)]);
}

std::string makeValue(size_t size) {
    std::string value(size, '\0');
    for (size_t j = 0; j < size; j++) value[j] = static_cast<char>('a' + j % 26);
    return value;
}

// MARK: - Measuring

long residentBytes() { return kvbench_resident_bytes(); }

// What the allocator says the program holds: jemalloc's stats.allocated when jemalloc serves
// malloc (run with LD_PRELOAD=libjemalloc.so.2), else glibc's mallinfo2 (in-use + mmapped).
// The same rule as kvlab's KVMemory module, so the two report the same quantity.
typedef int (*MallctlFunction)(const char*, void*, size_t*, void*, size_t);

MallctlFunction mallctlFunction() {
    static MallctlFunction function = reinterpret_cast<MallctlFunction>(dlsym(RTLD_DEFAULT, "mallctl"));
    return function;
}

const char* allocatorName() { return mallctlFunction() != nullptr ? "jemalloc" : "libc"; }

long allocatedBytes() {
    if (MallctlFunction mallctl = mallctlFunction()) {
        uint64_t epoch = 1;
        size_t length = sizeof(epoch);
        mallctl("epoch", &epoch, &length, &epoch, length);
        size_t allocated = 0;
        length = sizeof(allocated);
        mallctl("stats.allocated", &allocated, &length, nullptr, 0);
        return static_cast<long>(allocated);
    }
    struct mallinfo2 info = mallinfo2();
    return static_cast<long>(info.uordblks + info.hblkhd);
}

// Gives freed memory back to the system, so a new map's resident delta is its own.
void releaseFreeMemory() {
    if (MallctlFunction mallctl = mallctlFunction()) {
        mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    } else {
        malloc_trim(0);
    }
}

using Clock = std::chrono::steady_clock;

class Report {
public:
    explicit Report(const Options& options) : options_(options) {}

    void start() { start_ = Clock::now(); }

    // Stops the clock; prints the phase's line with `extra` appended (already formatted).
    void finish(const char* name, uint64_t ops, bool bytesPerSecond, const std::string& extra = "") {
        const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
        const double micros = seconds * 1e6 / static_cast<double>(ops);
        const double opsPerSec = static_cast<double>(ops) / seconds;
        std::printf("%-12s : %11.3f micros/op %10.0f ops/sec;", name, micros, opsPerSec);
        if (bytesPerSecond) {
            const double bytes = static_cast<double>(options_.keySize + options_.valueSize) * static_cast<double>(ops);
            std::printf(" %6.1f MB/s", bytes / 1048576.0 / seconds);
        }
        std::printf("%s\n", extra.c_str());
        std::fflush(stdout);
    }

private:
    const Options& options_;
    Clock::time_point start_;
};

// MARK: - Phases

template <typename Map>
void run(const Options& options) {
    auto listed = [&](const char* name) {
        for (const auto& b : options.benchmarks) {
            if (b == name) return true;
        }
        return false;
    };
    const uint64_t n = options.num;
    SeededRandom random(options.seed);
    Report report(options);
    std::string key(options.keySize, '0');
    std::string value = makeValue(options.valueSize);
    std::vector<uint64_t> order;
    order.reserve(n);

    // After each phase, like `kvlab bench`: bytes the map holds per live record, as allocated
    // (allocator statistics) and resident (RSS), measured from just before the map was created.
    struct Baseline {
        long allocated;
        long resident;
    };
    auto baseline = [&]() {
        releaseFreeMemory();
        return Baseline{allocatedBytes(), residentBytes()};
    };
    auto reportMemory = [&](const Baseline& before, uint64_t records, const char* phase) {
        const long allocated = allocatedBytes(), resident = residentBytes();
        const int raw = static_cast<int>(options.keySize + options.valueSize);
        const double fragmentation = allocated == 0 ? 0 : static_cast<double>(resident) / static_cast<double>(allocated);
        if (records == 0) {
            std::printf("memory       : allocated %ld B, resident %ld B with 0 records, fragmentation %.2f [%s] after %s\n",
                        allocated - before.allocated, resident - before.resident, fragmentation, allocatorName(), phase);
        } else {
            const double a = static_cast<double>(allocated - before.allocated) / static_cast<double>(records);
            const double r = static_cast<double>(resident - before.resident) / static_cast<double>(records);
            std::printf("memory       : allocated %.1f B/record (%.2fx raw %d B), resident %.1f B/record (%.2fx), "
                        "fragmentation %.2f [%s] after %s\n",
                        a, a / raw, raw, r, r / raw, fragmentation, allocatorName(), phase);
        }
        std::fflush(stdout);
    };

    if (listed("fillseq")) {
        const Baseline before = baseline();
        Map* map = new Map();
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, op);
            stampValue(value, op);
            map->insert_or_assign(key, value);
        }
        report.finish("fillseq", n, true);
        reportMemory(before, n, "fillseq");
        delete map;
    }

    const bool needsFill = listed("fillrandom") || listed("overwrite") || listed("readrandom") ||
                           listed("readseq") || listed("deleterandom");
    if (!needsFill) return;

    permutation(order, n, random);
    const Baseline before = baseline();
    Map map;
    report.start();
    for (uint64_t op = 0; op < n; op++) {
        writeKey(key, order[op]);
        stampValue(value, op);
        map.insert_or_assign(key, value);
    }
    if (listed("fillrandom")) {
        report.finish("fillrandom", n, true);
        reportMemory(before, n, "fillrandom");
    }

    if (listed("overwrite")) {
        permutation(order, n, random);
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, order[op]);
            stampValue(value, op);
            map.insert_or_assign(key, value);
        }
        report.finish("overwrite", n, true);
        reportMemory(before, n, "overwrite");
    }

    if (listed("readrandom")) {
        uint64_t found = 0;
        uint64_t valueBytes = 0;
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, random.nextBelow(n));
            auto it = map.find(key);
            if (it != map.end()) {
                found++;
                valueBytes += it->second.size();
            }
        }
        char extra[64];
        std::snprintf(extra, sizeof extra, " (%llu of %llu found)", static_cast<unsigned long long>(found),
                      static_cast<unsigned long long>(n));
        report.finish("readrandom", n, false, extra);
        reportMemory(before, n, "readrandom");
        if (valueBytes == 1) std::printf("\n");  // Keeps the reads observable to the optimizer.
    }

    if (listed("readseq")) {
        uint64_t records = 0;
        uint64_t bytes = 0;
        report.start();
        for (const auto& record : map) {
            records++;
            bytes += record.first.size() + record.second.size();
        }
        char extra[64];
        std::snprintf(extra, sizeof extra, " (%llu records)", static_cast<unsigned long long>(records));
        report.finish("readseq", records == 0 ? 1 : records, false, extra);
        reportMemory(before, n, "readseq");
        if (bytes == 1) std::printf("\n");
    }

    if (listed("deleterandom")) {
        permutation(order, n, random);
        uint64_t existed = 0;
        report.start();
        for (uint64_t op = 0; op < n; op++) {
            writeKey(key, order[op]);
            existed += map.erase(key);
        }
        char extra[64];
        std::snprintf(extra, sizeof extra, " (%llu of %llu existed)", static_cast<unsigned long long>(existed),
                      static_cast<unsigned long long>(n));
        report.finish("deleterandom", n, false, extra);
        reportMemory(before, 0, "deleterandom");
    }
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parseOptions(argc, argv);
    std::printf("kvbench_std: impl=%s num=%llu key-size=%zu value-size=%zu seed=%llu\n", options.impl.c_str(),
                static_cast<unsigned long long>(options.num), options.keySize, options.valueSize,
                static_cast<unsigned long long>(options.seed));
    std::fflush(stdout);
    if (options.impl == "map") {
        run<std::map<std::string, std::string>>(options);
    } else {
        run<std::unordered_map<std::string, std::string>>(options);
    }
    return 0;
}
