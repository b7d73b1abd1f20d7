// The engines the conformance suite runs against. A new engine joins by one line in `all`.

import KVCore
import KVEngines
import BTreeEngine
import KVStorage
import LSMEngine
import Testing

/// How an engine is expected to behave in the model test.
enum EngineSemantics: Sendable {
    /// Reads return what was written.
    case storing
    /// Accepts writes and forgets them (the null engine): every read is absent.
    case discarding
}

/// An engine kind as the suite sees it: how to open a fresh one, and (for persistent engines)
/// how to close and reopen it on the same storage.
struct EngineUnderTest: Sendable, CustomTestStringConvertible {
    var name: String
    var semantics: EngineSemantics
    var open: @Sendable () throws -> any KeyValueEngine
    /// Closes `engine` and opens it again on the same storage; nil for in-memory engines.
    var reopen: (@Sendable (any KeyValueEngine) throws -> any KeyValueEngine)? = nil

    var testDescription: String { name }

    /// An engine from kvlab's standard registry with default options.
    static func registry(_ name: String, semantics: EngineSemantics = .storing,
                         options: [String: String] = [:]) -> EngineUnderTest {
        EngineUnderTest(name: name, semantics: semantics) {
            try StandardEngines.registry.open(name, options: EngineOptions(options))
        }
    }

    /// Every engine under test. One line per engine.
    static let all: [EngineUnderTest] = [
        .registry("hash"),
        .registry("hash", options: ["shards": "1", "capacity": "0"]).named("hash (1 shard, growing from empty)"),
        .registry("skiplist"),
        .registry("null", semantics: .discarding),
        .lsm,
        .registry("btree"),
        .btree(pageSize: 4096, cacheBytes: 1 << 20),
        .btree(pageSize: 1024, cacheBytes: 64 << 10),
    ]

    /// The LSM engine on an in-memory fault-injecting file system, with a small memtable so
    /// flushes and compactions happen; `reopen` closes it and opens the same files again.
    static var lsm: EngineUnderTest {
        @Sendable func options(_ fs: FaultInjectingFileSystem) -> LSMOptions {
            var o = LSMOptions(directory: "/db", fileSystem: fs)
            o.memtableSize = 64 << 10
            o.targetFileSize = 64 << 10
            o.level1MaxBytes = 256 << 10
            o.blockCacheSize = 256 << 10
            return o
        }
        return EngineUnderTest(name: "lsm", semantics: .storing, open: {
            try LSMEngine(options: options(FaultInjectingFileSystem()))
        }, reopen: { engine in
            let lsm = engine as! LSMEngine
            try lsm.close()
            return try LSMEngine(options: options(lsm.options.fileSystem as! FaultInjectingFileSystem))
        })
    }

    /// Engines whose reads return what was written.
    static let storing = all.filter { $0.semantics == .storing }

    /// A B+tree on an in-memory file system, closed and reopened on it by the model test.
    static func btree(pageSize: Int, cacheBytes: Int) -> EngineUnderTest {
        let configuration = BTreeConfiguration(pageSize: pageSize, cacheBytes: cacheBytes)
        return EngineUnderTest(
            name: "btree (\(pageSize)-byte pages, \(cacheBytes >> 10) KiB cache, reopened)", semantics: .storing,
            open: { try BTreeEngine(fileSystem: FaultInjectingFileSystem(), directory: "/db", configuration: configuration) },
            reopen: { engine in
                let old = engine as! BTreeEngine
                try old.close()
                return try BTreeEngine(fileSystem: old.fileSystem, directory: old.directory, configuration: old.configuration)
            })
    }

    func named(_ newName: String) -> EngineUnderTest {
        var copy = self
        copy.name = newName
        return copy
    }
}
