// The table point-read path (parsed index, in-place block search) against a brute-force model.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import LSMEngine

@Suite("LSM table point reads")
struct PointReadTests {
    /// One entry of the model: internal key (user key + trailer) and value.
    struct Entry { var key: [UInt8]; var value: [UInt8] }

    /// Random user keys of 0 to 40 bytes over a small alphabet (so keys share prefixes and
    /// differ past the first 8 bytes), a few longer than the 512-byte scratch buffer, each with
    /// one to three versions, some of them deletions.
    static func entries(seed: UInt64, sharedPrefix: [UInt8] = []) -> (entries: [Entry], userKeys: [[UInt8]]) {
        var random = SeededRandom(seed: seed)
        var keys = Set<[UInt8]>()
        while keys.count < 1500 {
            let length = random.next(below: 20) == 0 ? 513 + Int(random.next(below: 100)) : Int(random.next(below: 41))
            keys.insert(sharedPrefix + (0..<length).map { _ in UInt8(random.next(below: 3)) + (random.next(below: 8) == 0 ? 0 : 97) })
        }
        let sorted = keys.sorted { $0.lexicographicallyPrecedes($1) }
        var entries: [Entry] = []
        var sequence: UInt64 = 10_000
        for userKey in sorted {
            // Versions newest first (internal-key order).
            for _ in 0..<(1 + Int(random.next(below: 3))) {
                let type: ValueType = random.next(below: 4) == 0 ? .deletion : .value
                var key: [UInt8] = []
                userKey.withUnsafeBytes { InternalKey.append($0, sequence: sequence, type: type, to: &key) }
                let value = type == .deletion ? [] : Array("v\(sequence)".utf8) + [UInt8](repeating: UInt8(sequence % 251), count: Int(random.next(below: 200)))
                entries.append(Entry(key: key, value: value))
                sequence -= 1
            }
        }
        return (entries, sorted)
    }

    /// Each user key's versions, newest first: sequence, type, value.
    static func model(_ entries: [Entry]) -> [[UInt8]: [(sequence: UInt64, type: ValueType, value: [UInt8])]] {
        var model: [[UInt8]: [(sequence: UInt64, type: ValueType, value: [UInt8])]] = [:]
        for entry in entries {
            let (user, sequence, type) = entry.key.withUnsafeBytes { (Array(InternalKey.userKey($0)), InternalKey.sequence($0), InternalKey.type($0)) }
            model[user, default: []].append((sequence, type, entry.value))
        }
        return model
    }

    func check(_ fs: any FileSystem, path: String, seed: UInt64, bloomLayout: BloomLayout = .blocked, sharedPrefix: [UInt8] = []) throws {
        let (entries, userKeys) = Self.entries(seed: seed, sharedPrefix: sharedPrefix)
        let file = try fs.open(path, mode: .truncate)
        let writer = SortedTableWriter(file: file, blockSize: 512, bitsPerKey: 10, bloomLayout: bloomLayout)
        for entry in entries { try entry.key.withUnsafeBytes { k in try entry.value.withUnsafeBytes { try writer.add(k, $0) } } }
        _ = try writer.finish()
        let table = try SortedTable(file: try fs.open(path, mode: .readOnly), number: 1)
        #expect(table.pointIndex.count > 10, "the table should span many blocks")
        #expect(table.filterLayout == bloomLayout)
        let cache = BlockCache(capacity: 8 << 10)
        var random = SeededRandom(seed: seed &+ 1)
        let model = Self.model(entries)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)
        defer { scratch.deallocate() }
        var probes = userKeys
        // Absent keys: between, before and after the stored ones.
        for _ in 0..<300 { probes.append((0..<Int(random.next(below: 30))).map { _ in UInt8(random.next(below: 5)) + 96 }) }
        // With a shared prefix: absent keys that share it, stop inside it, or leave it.
        if !sharedPrefix.isEmpty {
            for _ in 0..<300 {
                let cut = Int(random.next(below: UInt64(sharedPrefix.count + 1)))
                var probe = Array(sharedPrefix[0..<cut])
                if random.next(below: 2) == 0, cut < sharedPrefix.count { probe.append(sharedPrefix[cut] &+ (random.next(below: 2) == 0 ? 1 : 255)) }
                probe += (0..<Int(random.next(below: 12))).map { _ in UInt8(random.next(below: 5)) + 96 }
                probes.append(probe)
            }
        }
        for userKey in probes {
            for sequence in [InternalKey.maxSequence, random.next(below: 10_000), 0] {
                var got: [UInt8]? = nil
                let result = try userKey.withUnsafeBytes { user in
                    try InternalKey.withLookupKey(user, sequence: sequence) { (lookup) throws(EngineError) in
                        try table.get(lookup, userKey: user, hash: BloomFilter.hash(user),
                                      scratch: scratch, cache: cache) { got = Array($0) }
                    }
                }
                let newest = model[userKey]?.first { $0.sequence <= sequence }
                let want: LookupResult = newest.map { $0.type == .deletion ? .deleted : .found } ?? .notFound
                #expect(result == want, "key \(userKey) at \(sequence)")
                if want == .found { #expect(got == newest?.value, "value of key \(userKey) at \(sequence)") }
            }
        }
    }

    @Test("a point read finds every version, tombstone and gap of a mapped table, long keys included")
    func mappedTable() throws {
        let seed = LSMTest.seed(18, "mappedTable")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-point-read-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fs = PosixFileSystem()
        let path = directory + "/000001.sst"
        try check(fs, path: path, seed: seed)
        #expect(try fs.open(path, mode: .readOnly).mapReadOnly() != nil, "PosixFileSystem should map the table, so the mapped path was tested")
    }

    @Test("a point read finds every version, tombstone and gap of a table read through the block cache")
    func cachedTable() throws {
        let seed = LSMTest.seed(19, "cachedTable")
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        try check(fs, path: "/db/000001.sst", seed: seed)
    }

    @Test("a point read finds every version, tombstone and gap of a mapped table whose filter has the legacy layout")
    func legacyFilterTable() throws {
        let seed = LSMTest.seed(21, "legacyFilterTable")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-point-read-legacy-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try check(PosixFileSystem(), path: directory + "/000001.sst", seed: seed, bloomLayout: .legacy)
    }

    @Test("a point read is right when every key shares 11 bytes, so the index compares the bytes after them and ties on their prefixes")
    func sharedPrefixTable() throws {
        let seed = LSMTest.seed(22, "sharedPrefixTable")
        let fs = FaultInjectingFileSystem()
        try fs.createDirectory("/db")
        try check(fs, path: "/db/000001.sst", seed: seed, sharedPrefix: Array("00000000012".utf8))
    }

    @Test("the index's 8-byte key prefixes order keys as their bytes do whenever they differ")
    func prefixOrder() {
        var random = SeededRandom(seed: LSMTest.seed(20, "prefixOrder"))
        for _ in 0..<20_000 {
            let a = (0..<Int(random.next(below: 12))).map { _ in UInt8(random.next(below: 3)) }
            let b = (0..<Int(random.next(below: 12))).map { _ in UInt8(random.next(below: 3)) }
            let (pa, pb, order) = a.withUnsafeBytes { x in
                b.withUnsafeBytes { y in (TableIndex.prefix(ofUserKey: x), TableIndex.prefix(ofUserKey: y), ByteOrder.compare(x, y)) }
            }
            if pa != pb { #expect((pa < pb) == (order < 0), "\(a) vs \(b)") }
        }
    }
}
