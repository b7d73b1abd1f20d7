// Damaged bytes in a table or the manifest are reported with the file and offset, never read as data.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import LSMEngine

@Suite("LSM corruption detection")
struct CorruptionTests {
    static let count = 600

    /// A closed engine's files, with several tables in more than one level.
    static func build() throws -> [String: [UInt8]] {
        let fs = FaultInjectingFileSystem()
        let engine = try LSMEngine(options: LSMTest.options(fs, memtable: 8 << 10))
        for i in 0..<count { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 1)) }
        engine.waitForBackgroundWork()
        try engine.close()
        return try LSMTest.snapshot(fs)
    }

    /// Opens the files with one byte of `path` flipped; every read must be right or a
    /// corruption error naming `path`. Returns how the trial ended.
    static func trial(_ files: [String: [UInt8]], path damagedPath: String, offset: Int, onDisk: Bool = false) throws -> String {
        var damaged = files
        damaged[damagedPath]![offset] ^= 0x5A
        let fs: any FileSystem
        var directory = "/db"
        var path = damagedPath
        if onDisk {
            // Real files: tables are then read through mmap, a different path from pread.
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-lsm-corrupt-\(getpid())").path
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for (p, bytes) in damaged {
                _ = FileManager.default.createFile(atPath: directory + "/" + FilePath.name(of: p), contents: Data(bytes))
            }
            path = directory + "/" + FilePath.name(of: damagedPath)
            fs = PosixFileSystem()
        } else {
            fs = try LSMTest.fileSystem(with: damaged)
        }
        defer { if onDisk { try? FileManager.default.removeItem(atPath: directory) } }
        let engine: LSMEngine
        do {
            engine = try LSMEngine(options: LSMTest.options(fs, directory: directory, memtable: 8 << 10))
        } catch {
            guard case let .corruption(file, _, _) = error, file == path else {
                Issue.record("flip at \(path):\(offset): open failed with \(error), not corruption in that file")
                return "bad"
            }
            return "open"
        }
        defer { try? engine.close() }
        var reported = false
        for i in 0..<count {
            do {
                let got = try engine.get(LSMTest.key(i))
                if got != LSMTest.value(i, version: 1) {
                    Issue.record("flip at \(path):\(offset): key \(i) read back \(got.map { "\($0.count) wrong bytes" } ?? "absent")")
                    return "bad"
                }
            } catch {
                guard case let .corruption(file, _, _) = error, file == path else {
                    Issue.record("flip at \(path):\(offset): read of key \(i) failed with \(error), not corruption in that file")
                    return "bad"
                }
                reported = true
            }
        }
        return reported ? "read" : "unnoticed"
    }

    @Test("a flipped byte anywhere in a table is reported on read with the table's name, never returned as data",
          arguments: [false, true])
    func tableBytes(onDisk: Bool) throws {
        let files = try Self.build()
        let table = try #require(files.keys.filter { $0.hasSuffix(".sst") }.max { files[$0]!.count < files[$1]!.count })
        let size = files[table]!.count
        var outcomes: [String: Int] = [:]
        var offset = 0
        while offset < size {
            outcomes[try Self.trial(files, path: table, offset: offset, onDisk: onDisk), default: 0] += 1
            offset += offset >= size - 80 ? 1 : (onDisk ? 401 : 149)
        }
        print("table \(table) (\(size) bytes, \(onDisk ? "on disk, mmap" : "in memory, pread")): \(outcomes)")
        #expect(outcomes["bad"] == nil)
        // Every byte of a table is under a checksum, so every flip is noticed.
        #expect(outcomes["unnoticed"] == nil)
    }

    @Test("a flipped byte in the manifest is reported on open with the manifest's name, or changes nothing")
    func manifestBytes() throws {
        let files = try Self.build()
        let manifest = try #require(files.keys.first { $0.contains("MANIFEST-") })
        var outcomes: [String: Int] = [:]
        let size = files[manifest]!.count
        // Every byte of the last record's neighbourhood (where damage could pass for a torn
        // tail), a sample before it.
        for offset in 0..<size where offset >= size - 96 || offset % 4 == 0 {
            outcomes[try Self.trial(files, path: manifest, offset: offset), default: 0] += 1
        }
        print("manifest \(manifest) (\(size) bytes): \(outcomes)")
        #expect(outcomes["bad"] == nil)
    }
}
