// The run-time switchable disk faults: failing fsync and a full disk, on files opened before the switch too.

import Foundation
import KVCore
import KVStorage
import Testing

@Suite("Switchable fault file system")
struct SwitchableFaultFileSystemTests {
    /// A fresh directory under the temporary directory, on the real POSIX file system.
    static func directory(_ tag: String) throws -> (SwitchableFaultFileSystem, String) {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("kvlab-switchfault-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let fs = SwitchableFaultFileSystem(wrapping: PosixFileSystem())
        try fs.createDirectory(dir)
        return (fs, dir)
    }

    @Test("fsync-error makes sync and directory sync of an already open file throw EIO, and none lets them pass again")
    func fsyncFails() throws {
        let (fs, dir) = try Self.directory("fsync")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try fs.open(FilePath.join(dir, "f"), mode: .truncate)
        try file.write(at: 0, [1, 2, 3])
        try file.sync()
        fs.faults.mode = .fsyncFails
        #expect(throws: StorageError.io(path: FilePath.join(dir, "f"), operation: "fsync", errno: EIO)) { try file.sync() }
        #expect(throws: StorageError.io(path: dir, operation: "fsync(directory)", errno: EIO)) { try fs.syncDirectory(dir) }
        // Writes still land: only durability fails.
        try file.write(at: 3, [4])
        #expect(try file.size() == 4)
        fs.faults.mode = .none
        try file.sync()
        try fs.syncDirectory(dir)
        try file.close()
    }

    @Test("disk-full makes writes and growing truncations throw ENOSPC without changing the file, while reads, shrinking and sync work")
    func diskFull() throws {
        let (fs, dir) = try Self.directory("full")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = FilePath.join(dir, "f")
        let file = try fs.open(path, mode: .truncate)
        try file.write(at: 0, [1, 2, 3, 4])
        fs.faults.mode = .diskFull
        #expect(throws: StorageError.io(path: path, operation: "write", errno: ENOSPC)) { try file.write(at: 4, [5]) }
        #expect(throws: StorageError.io(path: path, operation: "ftruncate", errno: ENOSPC)) { try file.truncate(to: 100) }
        #expect(try file.size() == 4)
        #expect(try file.readExactly(at: 0, count: 4) == [1, 2, 3, 4])
        try file.truncate(to: 2)
        try file.sync()
        // A file opened during the fault is refused writes too.
        let other = try fs.open(FilePath.join(dir, "g"), mode: .truncate)
        #expect(throws: StorageError.io(path: FilePath.join(dir, "g"), operation: "write", errno: ENOSPC)) { try other.write(at: 0, [9]) }
        fs.faults.mode = .none
        try file.write(at: 2, [7])
        #expect(try file.readExactly(at: 0, count: 3) == [1, 2, 7])
        try file.close()
        try other.close()
    }

    @Test("mode names parse from the wire and print back the same, and unknown names are refused")
    func modeNames() {
        for mode in DiskFaultMode.allCases {
            #expect(DiskFaultMode(name: mode.description) == mode)
        }
        #expect(DiskFaultMode(name: "FSYNC-ERROR") == .fsyncFails)
        #expect(DiskFaultMode(name: "full") == nil)
    }
}
