// The catalogue of kvlab's built-in engines: the one place that knows every engine module.

import KVCore
import HashEngine
import SkipListEngine
import BTreeEngine
import LSMEngine
import KVStorage

/// kvlab's built-in engines.
public enum StandardEngines {
    /// The engine used when none is named: ordered, so every YCSB workload (E scans) runs on it.
    public static let defaultEngine = "skiplist"

    /// Every built-in engine, by name.
    public static let registry = EngineRegistry([
        EngineDescriptor(
            name: "hash",
            summary: "in-memory hash table: lock-striped shards, open addressing, incremental resize, slab-allocated records",
            capabilities: [.storesData, .atomicBatch],
            options: [
                EngineOptionDescriptor(name: "shards", help: "lock stripes (rounded up to a power of two)", defaultValue: "64"),
                EngineOptionDescriptor(name: "capacity", help: "expected records, to presize the tables", defaultValue: "0"),
            ],
            factory: { (options) throws(EngineError) in
                let shards = try options.integer("shards", engine: "hash", default: 64, range: 1...65536)
                let capacity = try options.integer("capacity", engine: "hash", default: 0, range: 0...(1 << 40))
                return HashEngine(shardCount: shards, initialCapacity: capacity)
            }
        ),
        EngineDescriptor(
            name: "skiplist",
            summary: "in-memory concurrent skiplist, ordered scans; the LSM tree's memtable",
            capabilities: [.storesData, .orderedScan, .atomicBatch],
            options: [
                EngineOptionDescriptor(name: "seed", help: "seed of the tower-height generator", defaultValue: "24301"),
            ],
            factory: { (options) throws(EngineError) in
                let seed = try options.integer("seed", engine: "skiplist", default: 0x5EED)
                return SkipListEngine(seed: UInt64(seed))
            }
        ),
        EngineDescriptor(
            name: "lsm",
            summary: "persistent log-structured merge tree: WAL with group commit, memtable, sorted tables with bloom filters, leveled compaction",
            capabilities: [.storesData, .orderedScan, .persistent, .durableSync, .atomicBatch],
            options: [
                EngineOptionDescriptor(name: "directory", help: "directory of the engine's files (--db); without it, files are kept in memory and lost at close", defaultValue: ""),
                EngineOptionDescriptor(name: "memtable-size", help: "bytes of memtable before it is flushed to a table", defaultValue: "4M"),
                EngineOptionDescriptor(name: "cache-size", help: "bytes of the block cache", defaultValue: "8M"),
                EngineOptionDescriptor(name: "bloom", help: "filter layout of new tables: blocked (one cache line per probe) or legacy (LevelDB's); both are read", defaultValue: "blocked"),
                EngineOptionDescriptor(name: "read-stats", help: "count what point reads do (tables probed per level, filter outcomes); kvlab bench prints them per phase", defaultValue: "false"),
            ] + EngineOptions.durabilityOptionDescriptors,
            factory: { (options) throws(EngineError) in try openLSM(options: options, fileSystem: nil) }
        ),
        EngineDescriptor(
            name: "btree",
            summary: "paged on-disk B+tree: copy-on-write pages, a commit per write group (group commit), meta-page switch, page cache (CLOCK), overflow pages, free-page reuse",
            capabilities: [.storesData, .orderedScan, .persistent, .durableSync, .atomicBatch],
            options: [
                EngineOptionDescriptor(name: "directory", help: "directory of the data file (data.btree); none: an in-memory file", defaultValue: ""),
                EngineOptionDescriptor(name: "page-size", help: "page size in bytes, a power of two in 512...32768", defaultValue: "4096"),
                EngineOptionDescriptor(name: "cache-size", help: "bytes of pages kept in the page cache", defaultValue: "512M"),
                EngineOptionDescriptor(name: "commit-size", help: "durability=buffered only: bytes of changed pages after which the open transaction is checkpointed", defaultValue: "256M"),
            ] + EngineOptions.durabilityOptionDescriptors,
            factory: { (options) throws(EngineError) in try openBTree(options: options, fileSystem: nil) }
        ),
        EngineDescriptor(
            name: "null",
            summary: "stores nothing, finds nothing: measures the cost of everything around an engine",
            capabilities: NullEngine().capabilities,
            factory: { (_) throws(EngineError) in NullEngine() }
        ),
    ])
}
