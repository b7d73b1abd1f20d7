// What the fault-injecting file system does to unsynced writes at a power cut or a process
// crash, and the faults it injects on demand.

import Foundation
import KVCore
import KVStorage
import Testing

@Suite("Fault-injecting file system")
struct FaultInjectionTests {
    /// `KVLAB_SEED` if set, else `fallback`; printed so a failure replays.
    static func seed(_ fallback: UInt64, _ test: String) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? fallback
        print("\(test): seed \(seed) (replay with KVLAB_SEED=\(seed))")
        return seed
    }

    /// A durable 64-byte file of ones at /db/f, and an open handle on it.
    static func durableFile() throws -> (FaultInjectingFileSystem, any StorageFile) {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        let file = try fs.open("/db/f", mode: .truncate)
        try file.write(at: 0, [UInt8](repeating: 1, count: 64))
        try file.sync()
        try fs.syncDirectory("/db")
        return (fs, file)
    }

    @Test("a torn power cut tears in-place overwrites too: each byte is old or new, and some cuts land part of the write")
    func tornOverwrites() throws {
        var partial = 0
        let base = Self.seed(0x70A2, "tornOverwrites")
        for seed in base..<(base + 40) {
            let (fs, file) = try Self.durableFile()
            try file.write(at: 16, [UInt8](repeating: 2, count: 32))   // in place, unsynced
            var rng = SeededRandom(seed: seed)
            fs.crash(tearingWith: &rng)
            let after = try #require(fs.contents(of: "/db/f"))
            #expect(after.count == 64, "seed \(seed)")
            #expect(after[..<16].allSatisfy { $0 == 1 } && after[48...].allSatisfy { $0 == 1 }, "seed \(seed): bytes outside the write changed")
            let written = after[16..<48]
            let newBytes = written.prefix { $0 == 2 }.count
            #expect(written.dropFirst(newBytes).allSatisfy { $0 == 1 }, "seed \(seed): the torn write is not a prefix of new bytes over old ones")
            if newBytes > 0 && newBytes < 32 { partial += 1 }
        }
        #expect(partial > 0, "no seed tore the overwrite part-way")
    }

    @Test("under independent-write power loss each unsynced write lands, vanishes or becomes garbage, and a seed replays it")
    func independentWrites() throws {
        var landed = 0, vanished = 0, garbage = 0
        let base = Self.seed(0x5C1E, "independentWrites")
        for seed in base..<(base + 30) {
            func run() throws -> [UInt8] {
                let (fs, file) = try Self.durableFile()
                // Four unsynced writes: two in place, two appended past the end.
                for (i, offset) in [0, 32, 64, 80].enumerated() {
                    try file.write(at: Int64(offset), [UInt8](repeating: UInt8(10 + i), count: 16))
                }
                var rng = SeededRandom(seed: seed)
                fs.crash(independentWritesWith: &rng)
                return try #require(fs.contents(of: "/db/f"))
            }
            let after = try run()
            #expect(try run() == after, "seed \(seed): the same seed gave another outcome")
            for (i, offset) in [0, 32, 64, 80].enumerated() {
                guard offset + 16 <= after.count else { vanished += 1; continue }
                let region = after[offset..<(offset + 16)]
                let old: UInt8 = offset < 64 ? 1 : 0   // past the durable end, a vanished write leaves a hole of zeros
                if region.allSatisfy({ $0 == UInt8(10 + i) }) { landed += 1 } else if region.allSatisfy({ $0 == old }) { vanished += 1 } else { garbage += 1 }
            }
        }
        print("independentWrites: landed \(landed), vanished \(vanished), garbage \(garbage)")
        #expect(landed > 0 && vanished > 0 && garbage > 0)
    }

    @Test("a process crash keeps every byte written and every file, and kills handles and locks")
    func processCrashKeepsWrites() throws {
        let (fs, file) = try Self.durableFile()
        try file.write(at: 64, [3, 3, 3])                  // written, never synced
        let fresh = try fs.open("/db/fresh", mode: .truncate)   // directory never synced
        try fresh.write(at: 0, [4])
        _ = try fs.lockDirectory("/db")
        fs.processCrash()
        #expect(fs.contents(of: "/db/f") == [UInt8](repeating: 1, count: 64) + [3, 3, 3])
        #expect(fs.contents(of: "/db/fresh") == [4])
        #expect(throws: StorageError.closed(path: "/db/f")) { try file.size() }
        let relocked = try fs.lockDirectory("/db")
        relocked.unlock()
        // What the process wrote but never synced is still not durable: a power cut now loses it.
        fs.crash()
        #expect(fs.contents(of: "/db/f") == [UInt8](repeating: 1, count: 64))
        #expect(!fs.exists("/db/fresh"))
    }

    @Test("an fsync that fails once then succeeds: the retry reports success but the writes it should have carried are not durable")
    func fsyncFailsOnceThenSucceeds() throws {
        let (fs, file) = try Self.durableFile()
        try file.write(at: 64, [5, 5])
        fs.inject(.sync, where: { $0 == "/db/f" })
        #expect(throws: StorageError.injected(path: "/db/f", operation: "fdatasync")) { try file.sync() }
        try file.sync()                                    // succeeds: the fault was once only
        try file.write(at: 66, [6])
        try file.sync()
        // Reads still see the bytes of the failed sync (page cache), the disk does not.
        #expect(fs.contents(of: "/db/f")!.suffix(3) == [5, 5, 6])
        let durable = try #require(fs.durableContents(of: "/db/f"))
        #expect(durable.count == 67 && durable[64..<66] == [0, 0] && durable[66] == 6)
        #expect(fs.faultsInjected == 1)
    }

    @Test("directory fsync, rename and remove fail when injected, touch nothing, and work again afterwards")
    func metadataFaults() throws {
        let (fs, _) = try Self.durableFile()
        let tmp = try fs.open("/db/f.tmp", mode: .truncate)
        try tmp.write(at: 0, [7])
        try tmp.sync()
        fs.inject(.syncDirectory)
        #expect(throws: StorageError.injected(path: "/db", operation: "fsync(directory)")) { try fs.syncDirectory("/db") }
        fs.inject(.rename, where: { $0.hasSuffix(".tmp") })
        #expect(throws: StorageError.injected(path: "/db/f.tmp", operation: "rename")) { try fs.rename("/db/f.tmp", to: "/db/f") }
        #expect(fs.contents(of: "/db/f") == [UInt8](repeating: 1, count: 64))
        fs.inject(.remove, skip: 1, times: nil)
        try fs.remove("/db/f.tmp")                         // skipped: succeeds
        let other = try fs.open("/db/g", mode: .truncate)
        try other.close()
        #expect(throws: StorageError.injected(path: "/db/g", operation: "remove")) { try fs.remove("/db/g") }
        #expect(throws: StorageError.injected(path: "/db/g", operation: "remove")) { try fs.remove("/db/g") }
        #expect(fs.exists("/db/g"))
        fs.clearFaults()
        try fs.remove("/db/g")
        try fs.syncDirectory("/db")
        // The failed directory sync made nothing durable; this one did: f.tmp and g stay gone.
        fs.crash()
        #expect(try fs.list("/db") == ["f"])
    }

    @Test("after a failed write, a file closed and reopened without a crash holds exactly what was written")
    func closeAndReopenAfterFault() throws {
        let (fs, file) = try Self.durableFile()
        try file.write(at: 64, [8, 8])
        fs.inject(.write)
        #expect(throws: StorageError.injected(path: "/db/f", operation: "write")) { try file.write(at: 66, [9]) }
        fs.inject(.sync)
        #expect(throws: StorageError.self) { try file.sync() }
        try file.close()
        #expect(throws: StorageError.closed(path: "/db/f")) { try file.size() }
        let reopened = try fs.open("/db/f", mode: .readWrite)
        #expect(try reopened.size() == 66)
        #expect(try reopened.readExactly(at: 62, count: 4) == [1, 1, 8, 8])
        try reopened.write(at: 66, [9])
        try reopened.sync()
        fs.crash()
        // Only the write after the failed sync was carried by the good one.
        let after = try #require(fs.contents(of: "/db/f"))
        #expect(after.count == 67 && after[64..<66] == [0, 0] && after[66] == 9)
    }
}

@Suite("Fault-injecting file system gates")
struct FaultGateTests {
    @Test("a blocked fsync waits at its gate without holding the file system: other files still read and write")
    func blockedSyncLeavesOthersFree() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        let slow = try fs.open("/db/slow", mode: .truncate)
        let other = try fs.open("/db/other", mode: .truncate)
        try slow.write(at: 0, [1])
        let gate = fs.block(.sync, where: { $0 == "/db/slow" })
        let finished = Lock()
        nonisolated(unsafe) var done = false
        let thread = Thread { try? slow.sync(); finished.withLock { done = true } }
        thread.start()
        var spins = 0
        while !gate.isWaiting && spins < 20_000 { usleep(500); spins += 1 }
        #expect(gate.isWaiting, "the sync never reached its gate")
        try other.write(at: 0, [2])                 // the file system is not locked by the waiting sync
        #expect(try other.readExactly(at: 0, count: 1) == [2])
        #expect(!finished.withLock { done })
        gate.open()
        spins = 0
        while !finished.withLock({ done }) && spins < 20_000 { usleep(500); spins += 1 }
        #expect(finished.withLock { done })
        #expect(fs.durableContents(of: "/db/slow") == nil)   // the directory was never synced
        try fs.syncDirectory("/db")
        #expect(fs.durableContents(of: "/db/slow") == [1])
    }
}
