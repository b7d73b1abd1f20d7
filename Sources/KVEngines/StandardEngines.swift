// The catalogue of kvlab's built-in engines: the one place that knows every engine module.

import KVCore
import HashEngine
import SkipListEngine

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
            name: "null",
            summary: "stores nothing, finds nothing: measures the cost of everything around an engine",
            capabilities: NullEngine().capabilities,
            factory: { (_) throws(EngineError) in NullEngine() }
        ),
    ])
}
