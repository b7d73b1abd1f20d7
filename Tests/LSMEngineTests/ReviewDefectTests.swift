// The five defects found in review of the LSM engine, one test each (each failed on the code
// before its fix): manifest failure during compaction, a failed fsync at the memtable switch,
// damaged unsynced tails at recovery, the trivial move's second FileMetaData, and locks held
// too long by a scan and by the memtable switch.

import Foundation
import KVCore
import KVStorage
import Synchronization
import Testing
@testable import LSMEngine

@Suite("LSM review defects")
struct ReviewDefectTests {
    @Test("a failed manifest write or fsync deletes nothing, fails the engine, and the database reopens with every acknowledged write",
          arguments: [FaultInjectingFileSystem.Operation.sync, .write])
    func manifestFailureDuringCompaction(operation: FaultInjectingFileSystem.Operation) throws {
        var compactionsHit = 0
        for skip in 0..<12 {
            let fs = FaultInjectingFileSystem()
            let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
            // The skip-th manifest write or sync after open fails, once.
            fs.inject(operation, skip: skip, times: 1, where: { $0.contains("MANIFEST-") })
            var acknowledged = 0
            for i in 0..<4000 {
                do { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) } catch { break }
                acknowledged = i + 1
                if i % 200 == 0 { engine.waitForBackgroundWork() }
            }
            engine.waitForBackgroundWork()
            if engine.stats.lock.withLock({ engine.stats.compactions + engine.stats.trivialMoves }) > 0 { compactionsHit += 1 }
            #expect(fs.faultsInjected == 1, "skip \(skip): the fault was not reached")
            try? engine.close()
            // No crash: the same files, reopened.
            let reopened: LSMEngine
            do {
                reopened = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
            } catch {
                Issue.record("skip \(skip), failed \(operation): the database does not reopen: \(error)")
                continue
            }
            for i in 0..<acknowledged where try reopened.get(LSMTest.key(i)) != LSMTest.value(i, version: 0) {
                Issue.record("skip \(skip), failed \(operation): acknowledged key \(i) lost")
                break
            }
            try reopened.checkInvariants()
            try reopened.close()
        }
        #expect(compactionsHit > 0, "no run compacted before its fault: the test did not reach compaction")
    }

    @Test("an fsync that fails at the memtable switch fails the engine for good, though the next fsync would succeed")
    func switchFsyncFailureIsFinal() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
        // Only the switch syncs a log here (no synced writes, no background syncs): fail it once.
        fs.inject(.sync, times: 1, where: { $0.hasSuffix(".log") })
        var failedAt: Int?
        for i in 0..<3000 {
            do { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) } catch { failedAt = i; break }
        }
        let failed = try #require(failedAt, "no write failed: the switch never synced a log")
        #expect(fs.faultsInjected == 1)
        // After EIO a retried fsync may report success over lost pages: no retry, ever.
        #expect(throws: EngineError.self, "a write after the failed fsync succeeded") {
            try engine.put(LSMTest.key(100_000), LSMTest.value(0, version: 1))
        }
        #expect(throws: EngineError.self) { try engine.flush() }
        try? engine.close()
        let reopened = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
        for i in 0..<failed { #expect(try reopened.get(LSMTest.key(i)) == LSMTest.value(i, version: 0), "key \(i)") }
        try reopened.close()
    }

    @Test("garbage, holes and torn writes in the log's unsynced tail after a power loss are cut off at open, not fatal")
    func damagedUnsyncedLogTail() throws {
        let base = LSMTest.seed(0xDA7A, "damagedUnsyncedLogTail")
        var damaged = 0
        for seed in base..<(base + 24) {
            let fs = FaultInjectingFileSystem()
            let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 4 << 20))
            for i in 0..<40 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0), options: .synced) }
            let big = [UInt8](repeating: 9, count: 1500)
            for i in 40..<200 { try engine.put(LSMTest.key(i), big) }
            engine.abandon()
            var rng = SeededRandom(seed: seed)
            fs.crash(independentWritesWith: &rng)
            let reopened: LSMEngine
            do {
                reopened = try LSMEngine(options: LSMTest.options(fs, memtable: 4 << 20))
            } catch {
                Issue.record("seed \(seed) (replay with KVLAB_SEED=\(seed)): open after a power loss failed: \(error)")
                continue
            }
            if !reopened.recoveryEvents.isEmpty { damaged += 1 }
            for i in 0..<40 { #expect(try reopened.get(LSMTest.key(i)) == LSMTest.value(i, version: 0), "seed \(seed) key \(i)") }
            let present = try (40..<200).map { try reopened.get(LSMTest.key($0)) == big }
            let firstMissing = present.firstIndex(of: false) ?? present.count
            #expect(present[firstMissing...].allSatisfy { !$0 }, "seed \(seed): unsynced writes recovered out of order")
            try reopened.close()
        }
        #expect(damaged > 0, "no seed damaged the unsynced tail")
    }

    @Test("a garbage record at the end of the manifest (an unsynced edit) is cut off at open and reported")
    func damagedUnsyncedManifestTail() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
        for i in 0..<600 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        engine.waitForBackgroundWork()
        try engine.close()
        let manifest = try #require(try fs.list("/db").first { $0.hasPrefix("MANIFEST-") })
        var bytes = try #require(fs.contents(of: "/db/" + manifest))
        let offset = bytes.count
        // A fragment header (checksum, length 24, FULL) and a payload that do not match.
        bytes += [0xDE, 0xAD, 0xBE, 0xEF, 24, 0, 1] + (0..<24).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        fs.setContents(of: "/db/" + manifest, bytes)
        let reopened = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
        for i in 0..<600 { #expect(try reopened.get(LSMTest.key(i)) == LSMTest.value(i, version: 0), "key \(i)") }
        #expect(reopened.recoveryEvents.contains { $0.file == "/db/" + manifest && $0.offset == Int64(offset) },
                "no report of the cut: \(reopened.recoveryEvents)")
        try reopened.close()
    }

    @Test("damage in synced log data is reported with the file and offset, never cut off")
    func damagedSyncedLogData() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 4 << 20))
        for i in 0..<3 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0), options: .synced) }
        engine.abandon()
        fs.crash()
        let log = try #require(try fs.list("/db").first { $0.hasSuffix(".log") })
        var bytes = try #require(fs.contents(of: "/db/" + log))
        bytes[20] ^= 0x40   // inside the first record's payload
        fs.setContents(of: "/db/" + log, bytes)
        var openError: EngineError?
        do throws(EngineError) {
            let reopened = try LSMEngine(options: LSMTest.options(fs, memtable: 4 << 20))
            try? reopened.close()
        } catch {
            openError = error
        }
        let error = try #require(openError, "opened over damaged synced data")
        guard case let .corruption(file, offset, _) = error else {
            Issue.record("not a corruption error: \(error)")
            return
        }
        #expect(file == "/db/" + log && offset == 0)
    }

    @Test("a trivially moved table stays one object: it is not deleted while an older version listing it is alive")
    func trivialMoveKeepsOneFileObject() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        let options = LSMTest.options(fs)
        let files = TableFiles(fileSystem: fs, directory: "/db")
        let versions = VersionSet(options: options, files: files)
        try versions.writeSnapshotManifest()
        for number: UInt64 in [5, 6] { try fs.open(files.path(number), mode: .truncate).close() }
        let key = { (k: String) in Array(k.utf8) + [1, 0, 0, 0, 0, 0, 0, 0] }
        func step(_ edit: VersionEdit) throws {
            var edit = edit
            let version = try versions.logEdit(&edit, base: versions.current)
            versions.install(version, edit: edit)
        }
        var add = VersionEdit()
        add.newFiles = [.init(level: 1, number: 5, size: 10, smallest: key("a"), largest: key("b"))]
        try step(add)
        var reader: Version? = versions.current          // a long scan holds this version
        var move = VersionEdit()                          // trivial move: L1 -> L2, same file
        move.deletedFiles = [(1, 5)]
        move.newFiles = [.init(level: 2, number: 5, size: 10, smallest: key("a"), largest: key("b"))]
        try step(move)
        #expect(versions.current.files[2].first === reader!.files[1].first, "the move made a second object for table 5")
        var compact = VersionEdit()                       // table 5 compacted away into 6
        compact.deletedFiles = [(2, 5)]
        compact.newFiles = [.init(level: 3, number: 6, size: 10, smallest: key("a"), largest: key("b"))]
        try step(compact)
        #expect(fs.exists(files.path(5)), "table 5 was deleted while a version listing it is still read")
        reader = nil
        #expect(!fs.exists(files.path(5)), "table 5 outlived the last version listing it")
        versions.close()
    }

    /// Polls `condition` every half millisecond, at most 20,000 times (10 s).
    static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<20_000 {
            if condition() { return true }
            usleep(500)
        }
        return condition()
    }

    @Test("a writer is not blocked by a scan in progress")
    func scanDoesNotBlockWriters() throws {
        let engine = try LSMEngine(options: LSMTest.options(FaultInjectingFileSystem(), memtable: 4 << 20))
        defer { try? engine.close() }
        for i in 0..<100 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        let inside = Atomic<Bool>(false), release = Atomic<Bool>(false), written = Atomic<Bool>(false), scanned = Atomic<Int>(0)
        let scanner = Thread {
            let start: [UInt8] = []
            _ = start.withUnsafeBytes { start in try? engine.scan(from: start, limit: 1000) { _, _ in
                if scanned.wrappingAdd(1, ordering: .relaxed).newValue == 1 {
                    inside.store(true, ordering: .releasing)
                    _ = Self.eventually { release.load(ordering: .acquiring) }
                }
                return true
            } }
        }
        scanner.start()
        #expect(Self.eventually { inside.load(ordering: .acquiring) })
        let writer = Thread {
            try? engine.put(LSMTest.key(5000), LSMTest.value(5000, version: 0))
            written.store(true, ordering: .releasing)
        }
        writer.start()
        #expect(Self.eventually { written.load(ordering: .acquiring) }, "the put waited for the scan to finish")
        release.store(true, ordering: .releasing)
        #expect(Self.eventually { scanned.load(ordering: .relaxed) >= 100 })
        #expect(Self.eventually { written.load(ordering: .acquiring) })
    }

    @Test("a reader is not blocked while the memtable switch waits for its fsyncs")
    func switchDoesNotBlockReaders() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
        defer { try? engine.close() }
        try engine.put(LSMTest.key(0), LSMTest.value(0, version: 0))
        // The switch syncs the old log; no one else syncs a log here. Freeze that fsync.
        let gate = fs.block(.sync, where: { $0.hasSuffix(".log") })
        let writing = Atomic<Bool>(true), read = Atomic<Bool>(false)
        let writer = Thread {
            for i in 1..<2000 { if (try? engine.put(LSMTest.key(i), LSMTest.value(i, version: 0))) == nil { break } }
            writing.store(false, ordering: .releasing)
        }
        writer.start()
        #expect(Self.eventually { gate.isWaiting }, "no log fsync happened")
        let reader = Thread {
            if (try? engine.get(LSMTest.key(0))) == LSMTest.value(0, version: 0) { read.store(true, ordering: .releasing) }
        }
        reader.start()
        #expect(Self.eventually { read.load(ordering: .acquiring) }, "the get waited for the switch's fsync")
        gate.open()
        #expect(Self.eventually { !writing.load(ordering: .acquiring) })
        #expect(Self.eventually { read.load(ordering: .acquiring) })
    }
}
