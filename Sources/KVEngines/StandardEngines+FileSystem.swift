// Opening the persistent engines on a caller's file system (kvlab serve --disk-faults wraps the POSIX one).

import KVCore
import BTreeEngine
import LSMEngine
import KVStorage

extension StandardEngines {
    /// Whether `open(_:options:fileSystem:)` can put `engine` on a caller's file system.
    public static func acceptsFileSystem(_ engine: String) -> Bool { engine == "lsm" || engine == "btree" }

    /// Opens `engine` (lsm or btree) with `options` as the registry does, but with its files in
    /// `options["directory"]` on `fileSystem` instead of the POSIX one.
    /// - Throws: `EngineError.invalidOption` for another engine or a missing directory.
    public static func open(_ engine: String, options: EngineOptions, fileSystem: any FileSystem) throws(EngineError) -> any KeyValueEngine {
        guard !(options.string("directory") ?? "").isEmpty else {
            throw .invalidOption(engine: engine, option: "directory", value: "", expected: "a directory (--db) for an engine on a given file system")
        }
        switch engine {
        case "lsm": return try openLSM(options: options, fileSystem: fileSystem)
        case "btree": return try openBTree(options: options, fileSystem: fileSystem)
        default:
            throw .invalidOption(engine: engine, option: "engine", value: engine, expected: "lsm or btree (the engines with files)")
        }
    }

    /// The lsm engine; `fileSystem` nil: POSIX with a directory, in memory without.
    static func openLSM(options: EngineOptions, fileSystem: (any FileSystem)?) throws(EngineError) -> LSMEngine {
        let directory = options.string("directory") ?? ""
        var lsm = directory.isEmpty
            ? LSMOptions(directory: "/lsm", fileSystem: FaultInjectingFileSystem())
            : LSMOptions(directory: directory, fileSystem: fileSystem ?? PosixFileSystem())
        lsm.memtableSize = try options.integer("memtable-size", engine: "lsm", default: 4 << 20, range: 4096...(1 << 34))
        lsm.blockCacheSize = try options.integer("cache-size", engine: "lsm", default: 8 << 20, range: 0...(1 << 40))
        lsm.durability = try options.durabilityPolicy(engine: "lsm")
        if let bloom = options.string("bloom") {
            guard let layout = BloomLayout(rawValue: bloom) else {
                throw .invalidOption(engine: "lsm", option: "bloom", value: bloom, expected: "blocked or legacy")
            }
            lsm.bloomLayout = layout
        }
        lsm.collectReadStatistics = try options.boolean("read-stats", engine: "lsm", default: false)
        return try LSMEngine(options: lsm)
    }

    /// The btree engine; `fileSystem` nil: POSIX with a directory, in memory without.
    static func openBTree(options: EngineOptions, fileSystem: (any FileSystem)?) throws(EngineError) -> BTreeEngine {
        var configuration = BTreeConfiguration()
        configuration.pageSize = try options.integer("page-size", engine: "btree", default: 4096, range: 512...32768)
        configuration.cacheBytes = try options.integer("cache-size", engine: "btree", default: 512 << 20, range: 0...(1 << 44))
        configuration.durability = try options.durabilityPolicy(engine: "btree")
        configuration.commitBytes = try options.integer("commit-size", engine: "btree", default: 256 << 20, range: 0...(1 << 44))
        if let directory = options.string("directory"), !directory.isEmpty {
            return try BTreeEngine(fileSystem: fileSystem ?? PosixFileSystem(), directory: directory, configuration: configuration)
        }
        return try BTreeEngine(fileSystem: FaultInjectingFileSystem(), directory: "/btree", configuration: configuration)
    }
}
