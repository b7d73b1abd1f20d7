// The LSM engine's own behaviour: persistence through flushes and compactions, tombstones,
// snapshots, group commit, bounded space.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import LSMEngine

@Suite("LSM engine")
struct LSMEngineTests {
    @Test("values survive close and reopen after flushes and compactions, and levels stay ordered")
    func persistence() throws {
        let fs = FaultInjectingFileSystem()
        var engine = try LSMEngine(options: LSMTest.options(fs))
        for i in 0..<3000 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        for i in stride(from: 0, to: 3000, by: 3) { try engine.delete(LSMTest.key(i)) }
        engine.waitForBackgroundWork()
        try engine.checkInvariants()
        #expect(engine.levelSummary.dropFirst().contains { $0.files > 0 }, "compaction reached level 1+")
        try engine.close()
        engine = try LSMEngine(options: LSMTest.options(fs))
        defer { try? engine.close() }
        for i in 0..<3000 {
            #expect(try engine.get(LSMTest.key(i)) == (i % 3 == 0 ? nil : LSMTest.value(i, version: 0)), "key \(i)")
        }
        let scanned = try engine.scan(from: LSMTest.key(10), limit: 5).map(\.key)
        #expect(scanned == [10, 11, 13, 14, 16].map(LSMTest.key))
        try engine.checkInvariants()
    }

    @Test("newest value wins and deletes hide older values across memtable and every level")
    func newestWins() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs))
        defer { try? engine.close() }
        for version in 0..<4 {
            for i in 0..<800 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: version)) }
            if version == 2 { engine.waitForBackgroundWork() }
        }
        for i in stride(from: 0, to: 800, by: 2) { #expect(try engine.delete(LSMTest.key(i))) }
        #expect(try engine.delete(LSMTest.key(0)) == false)
        for i in 0..<800 {
            #expect(try engine.get(LSMTest.key(i)) == (i % 2 == 0 ? nil : LSMTest.value(i, version: 3)))
        }
        let all = try engine.scan(from: [], limit: 10_000)
        #expect(all.count == 400)
        #expect(all.allSatisfy { pair in pair.value.starts(with: Array("value-".utf8)) && pair.value.contains(Array("-v3-".utf8)) })
    }

    @Test("tombstones are dropped at the bottom level, so deleted data stops taking space")
    func tombstonesDropped() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs))
        defer { try? engine.close() }
        for i in 0..<4000 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        engine.waitForBackgroundWork()
        let full = engine.levelSummary.reduce(Int64(0)) { $0 + $1.bytes }
        for i in 0..<4000 { try engine.delete(LSMTest.key(i)) }
        // More writes push the tombstones down through compactions.
        for round in 0..<6 {
            for i in 0..<1000 { try engine.put(Array("other\(i)".utf8), LSMTest.value(i, version: round)) }
        }
        engine.waitForBackgroundWork()
        let after = engine.levelSummary.reduce(Int64(0)) { $0 + $1.bytes }
        #expect(try engine.scan(from: Array("key".utf8), limit: 10).allSatisfy { !$0.key.starts(with: Array("key".utf8)) })
        #expect(after < full, "tables hold \(after) bytes after deleting every key, \(full) before")
    }

    @Test("a scan sees one snapshot: writes during the scan do not appear in it")
    func scanSnapshot() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs))
        defer { try? engine.close() }
        for i in 0..<2000 { try engine.put(LSMTest.key(i), [1]) }
        let writer = Thread {
            for i in 0..<2000 { try? engine.put(LSMTest.key(i), [2]) }
        }
        writer.start()
        var values: [UInt8] = []
        try engine.scan(from: UnsafeRawBufferPointer(start: nil, count: 0), limit: .max) { _, v in values.append(v.first!); return true }
        while !writer.isFinished { usleep(1000) }
        #expect(values.count == 2000)
        // The writer rewrites keys in order, so one snapshot shows new values on a prefix only.
        let firstOld = values.firstIndex(of: 1) ?? values.count
        #expect(values[firstOld...].allSatisfy { $0 == 1 }, "a 2 after a 1: the scan mixed two states")
    }

    @Test("concurrent synced writers share log syncs (group commit) and all their writes survive")
    func groupCommit() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 1 << 20))
        let threads = 8, perThread = 100
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            Thread {
                for i in 0..<perThread { try? engine.put(Array("t\(t)-\(i)".utf8), [UInt8(t)], options: .synced) }
                group.leave()
            }.start()
        }
        group.wait()
        let syncs = engine.stats.lock.withLock { engine.stats.logSyncs }
        #expect(syncs <= threads * perThread)
        print("group commit: \(threads * perThread) synced writes, \(syncs) log syncs")
        engine.abandon()
        fs.crash()
        let reopened = try LSMEngine(options: LSMTest.options(fs))
        defer { try? reopened.close() }
        for t in 0..<threads { for i in 0..<perThread { #expect(try reopened.get(Array("t\(t)-\(i)".utf8)) == [UInt8(t)]) } }
    }

    @Test("overwriting every key five times keeps the files within twice the live data")
    func spaceAmplification() throws {
        let fs = FaultInjectingFileSystem()
        var options = LSMTest.options(fs, memtable: 64 << 10)
        options.targetFileSize = 64 << 10
        options.level1MaxBytes = 256 << 10
        let engine = try LSMEngine(options: options)
        defer { try? engine.close() }
        let n = 20_000
        var live = 0
        for round in 0..<6 {
            live = 0
            for i in 0..<n {
                let k = LSMTest.key((i &* 7919) % n), v = LSMTest.value(i, version: round)
                try engine.put(k, v)
                live += k.count + v.count
            }
        }
        engine.waitForBackgroundWork()
        var onDisk = 0
        for name in try fs.list("/db") { onDisk += fs.contents(of: "/db/" + name)?.count ?? 0 }
        let ratio = Double(onDisk) / Double(live)
        print("space: \(onDisk) bytes on disk for \(live) live bytes: \(String(format: "%.2f", ratio))x; levels \(engine.levelSummary.map { "\($0.files)/\($0.bytes)" })")
        #expect(ratio < 2.0)
    }
}
