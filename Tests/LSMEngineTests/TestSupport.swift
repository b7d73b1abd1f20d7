// Shared helpers of the LSM tests: small-memtable options, seeds, file system copies.

import Foundation
import KVCore
import KVStorage
@testable import LSMEngine

enum LSMTest {
    /// Options that make flushes and compactions happen after a few kilobytes. Durability is
    /// periodic with an interval no test reaches, so no background fsync happens unasked
    /// (tests that need one fire it or set the policy).
    static func options(_ fs: any FileSystem, directory: String = "/db", memtable: Int = 16 << 10) -> LSMOptions {
        var o = LSMOptions(directory: directory, fileSystem: fs)
        o.durability = .periodic(intervalMilliseconds: 3_600_000)
        o.memtableSize = memtable
        o.targetFileSize = 32 << 10
        o.level1MaxBytes = 128 << 10
        o.blockCacheSize = 64 << 10
        o.blockSize = 1024
        return o
    }

    /// `KVLAB_SEED` if set, else `fallback`; printed so a failure replays.
    static func seed(_ fallback: UInt64, _ test: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? fallback
        print("\(test): seed \(seed) (replay with KVLAB_SEED=\(seed))")
        return seed
    }

    static func key(_ i: Int) -> [UInt8] { Array(String(format: "key%08d", i).utf8) }
    static func value(_ i: Int, version: Int) -> [UInt8] { Array("value-\(i)-v\(version)-".utf8) + [UInt8](repeating: UInt8(i % 251), count: 40) }

    /// Every file of `directory` in `fs`, by path.
    static func snapshot(_ fs: FaultInjectingFileSystem, _ directory: String = "/db") throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try fs.list(directory) { files[directory + "/" + name] = fs.contents(of: directory + "/" + name) }
        return files
    }

    /// A new file system holding exactly `files`, all durable.
    static func fileSystem(with files: [String: [UInt8]], _ directory: String = "/db") throws -> FaultInjectingFileSystem {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory(directory)
        for (path, bytes) in files {
            let f = try fs.open(path, mode: .truncate)
            try f.write(at: 0, bytes)
            try f.sync()
        }
        try fs.syncDirectory(directory)
        return fs
    }
}
