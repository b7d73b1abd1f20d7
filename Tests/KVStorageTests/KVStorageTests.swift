// CRC32C vectors, the POSIX file system, and what the fault-injecting one keeps after a crash.

import Foundation
import KVCore
import KVStorage
import Testing

@Suite("KVStorage")
struct KVStorageTests {
    @Test("CRC32C matches the published test vectors, and mask/unmask round-trip")
    func crc32c() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        // Continuing a checksum equals checksumming the concatenation.
        let a = Array("hello ".utf8), b = Array("world, a longer tail of bytes".utf8)
        let whole = CRC32C.checksum(a + b)
        let parts = b.withUnsafeBytes { CRC32C.checksum($0, continuing: CRC32C.checksum(a)) }
        #expect(whole == parts)
        #expect(CRC32C.mask(whole) != whole)
        #expect(CRC32C.unmask(CRC32C.mask(whole)) == whole)
        // The hardware and software paths agree on every length and alignment.
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 5) }
        data.withUnsafeBytes { raw in
            for start in 0..<9 {
                for end in stride(from: start, through: raw.count, by: 7) {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                    #expect(CRC32C.checksum(slice, continuing: 0x1234) == CRC32C.softwareChecksum(slice, continuing: 0x1234))
                }
            }
        }
    }

    @Test("the POSIX file system writes, reads, renames, lists and removes real files")
    func posix() throws {
        let fs = PosixFileSystem()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-storage-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try fs.createDirectory(dir + "/sub")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try fs.open(dir + "/sub/a", mode: .truncate)
        try file.write(at: 0, [1, 2, 3, 4])
        try file.write(at: 6, [9])
        try file.sync()
        #expect(try file.size() == 7)
        #expect(try file.readExactly(at: 2, count: 5) == [3, 4, 0, 0, 9])
        #expect(throws: StorageError.self) { try file.readExactly(at: 5, count: 5) }
        try file.truncate(to: 3)
        #expect(try file.size() == 3)
        try file.close()
        try fs.rename(dir + "/sub/a", to: dir + "/sub/b")
        try fs.syncDirectory(dir + "/sub")
        #expect(try fs.list(dir + "/sub") == ["b"])
        #expect(throws: StorageError.notFound(path: dir + "/sub/a")) { try fs.open(dir + "/sub/a", mode: .readOnly) }
        try fs.remove(dir + "/sub/b")
        #expect(!fs.exists(dir + "/sub/b"))
    }

    @Test("after a crash only synced data in synced directories survives")
    func crashKeepsOnlyDurable() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        let durable = try fs.open("/db/durable", mode: .truncate)
        try durable.write(at: 0, [1, 2, 3])
        try durable.sync()
        try fs.syncDirectory("/db")
        try durable.write(at: 3, [4, 5])          // not synced
        let fresh = try fs.open("/db/fresh", mode: .truncate)
        try fresh.write(at: 0, [7])
        try fresh.sync()                           // synced, but its directory entry is not
        fs.crash()
        #expect(fs.contents(of: "/db/durable") == [1, 2, 3])
        #expect(!fs.exists("/db/fresh"))
        #expect(throws: StorageError.closed(path: "/db/durable")) { try durable.size() }
    }

    @Test("a torn write keeps a prefix of the unsynced tail; renames revert until the directory is synced")
    func tornWritesAndRenames() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        let log = try fs.open("/db/log", mode: .truncate)
        try log.write(at: 0, [UInt8](repeating: 1, count: 10))
        try log.sync()
        try fs.syncDirectory("/db")
        try log.write(at: 10, [UInt8](repeating: 2, count: 100))
        var rng = SeededRandom(seed: 3)
        fs.crash(tearingWith: &rng)
        let after = try #require(fs.contents(of: "/db/log"))
        #expect(after.count >= 10 && after.count <= 110)
        #expect(after.prefix(10).allSatisfy { $0 == 1 } && after.dropFirst(10).allSatisfy { $0 == 2 })

        try fs.rename("/db/log", to: "/db/renamed")
        fs.crash()
        #expect(fs.exists("/db/log") && !fs.exists("/db/renamed"))
    }

    @Test("injected fsync and write failures are reported, and a failed sync makes nothing durable")
    func injectedFaults() throws {
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        let file = try fs.open("/db/f", mode: .truncate)
        try fs.syncDirectory("/db")
        try file.write(at: 0, [1])
        fs.failSync(after: 1)
        #expect(throws: StorageError.injected(path: "/db/f", operation: "fdatasync")) { try file.sync() }
        fs.crash()
        #expect(fs.contents(of: "/db/f") == [])
        let again = try fs.open("/db/f", mode: .readWrite)
        fs.failWrites(afterBytes: 4)
        try again.write(at: 0, [1, 2, 3])
        #expect(throws: StorageError.injected(path: "/db/f", operation: "write")) { try again.write(at: 3, [4, 5]) }
    }

    @Test("a directory lock is exclusive until released, on both file systems, and a crash drops it")
    func directoryLocks() throws {
        let posix = PosixFileSystem()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-lockdir-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fault = FaultInjectingFileSystem()
        for (fs, path) in [(posix as any FileSystem, dir), (fault as any FileSystem, "/db")] {
            let held = try fs.lockDirectory(path)
            #expect(throws: StorageError.locked(path: path + "/LOCK")) { try fs.lockDirectory(path) }
            held.unlock()
            let again = try fs.lockDirectory(path)
            again.unlock()
        }
        let beforeCrash = try fault.lockDirectory("/db")
        fault.crash()
        let afterCrash = try fault.lockDirectory("/db")
        beforeCrash.unlock()   // a lock from before the crash no longer counts
        #expect(throws: StorageError.self) { try fault.lockDirectory("/db") }
        afterCrash.unlock()
    }
}
