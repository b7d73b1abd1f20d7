// The cache-line blocked filter (no false negatives, false positives as its parameters predict),
// tables written in the legacy layout still read, and the read-statistics counts.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import LSMEngine

@Suite("LSM bloom filter layouts")
struct BloomFilterTests {
    /// Distinct seeded keys shaped like the bench's (zero-padded decimal) and random bytes.
    static func keys(_ count: Int, _ random: inout SeededRandom, tag: UInt8) -> [[UInt8]] {
        var keys = Set<[UInt8]>()
        while keys.count < count {
            if random.next(below: 2) == 0 {
                keys.insert([tag] + Array(String(format: "%015d", random.next(below: 1 << 40)).utf8))
            } else {
                keys.insert([tag] + (0..<Int(1 + random.next(below: 24))).map { _ in UInt8(random.next(below: 256)) })
            }
        }
        return Array(keys)
    }

    /// The false-positive rate a blocked filter of these parameters should show: keys per
    /// 512-bit block are Poisson with mean `keys / blocks`, and a block holding j keys has
    /// `1 - (1 - 1/512)^(j k)` of its bits set, so an absent key passes with that to the k.
    static func predictedBlockedRate(keys: Int, bitsPerKey: Int) -> Double {
        let k = Double(BloomFilter.probeCount(bitsPerKey: bitsPerKey))
        let blocks = max(1, (keys * bitsPerKey + 511) / 512)
        let mean = Double(keys) / Double(blocks)
        var rate = 0.0, p = exp(-mean)
        for j in 0..<400 {
            if j > 0 { p *= mean / Double(j) }
            rate += p * pow(1 - pow(1 - 1.0 / 512, Double(j) * k), k)
        }
        return rate
    }

    @Test("a blocked filter has no false negatives and its false-positive rate is what its parameters predict")
    func blockedFilterRates() {
        var random = SeededRandom(seed: LSMTest.seed(1801, "blockedFilterRates"))
        for count in [1, 7, 1000, 20_000] {
            let present = Self.keys(count, &random, tag: 1)
            let absent = Self.keys(50_000, &random, tag: 2)
            let hashes = present.map { $0.withUnsafeBytes { BloomFilter.hash($0) } }
            let filter = BloomFilter.build(hashes: hashes, bitsPerKey: 10, layout: .blocked)
            #expect(filter.last == BloomFilter.blockedTag && (filter.count - 2) % 64 == 0)
            filter.withUnsafeBytes { f in
                for h in hashes { #expect(BloomFilter.mayContain(f, hash: h), "false negative among \(count) keys") }
                let passed = absent.filter { $0.withUnsafeBytes { BloomFilter.mayContain(f, hash: BloomFilter.hash($0)) } }.count
                let measured = Double(passed) / Double(absent.count)
                let predicted = Self.predictedBlockedRate(keys: count, bitsPerKey: 10)
                // Binomial spread of 50,000 probes (4 standard deviations) plus 25% for bit
                // collisions of one key's probes, which the model ignores.
                let bound = predicted * 1.25 + 4 * (predicted * (1 - predicted) / Double(absent.count)).squareRoot() + 1e-4
                #expect(measured <= bound, "\(count) keys: \(passed) of \(absent.count) absent keys passed (\(measured)), predicted \(predicted)")
                if count >= 1000 { #expect(measured < 0.02, "\(count) keys at 10 bits per key: rate \(measured)") }
            }
        }
    }

    @Test("a legacy filter's answers are unchanged: no false negatives, and its bytes match LevelDB's double hashing")
    func legacyFilter() {
        var random = SeededRandom(seed: LSMTest.seed(1802, "legacyFilter"))
        let present = Self.keys(2000, &random, tag: 1)
        let hashes = present.map { $0.withUnsafeBytes { BloomFilter.hash($0) } }
        let filter = BloomFilter.build(hashes: hashes, bitsPerKey: 10, layout: .legacy)
        #expect(filter.last == 6, "legacy filters end with the probe count")
        // Rebuilt independently from the documented rule with the hash's low 32 bits.
        let bitCount = (filter.count - 1) * 8
        var expected = [UInt8](repeating: 0, count: filter.count - 1)
        for full in hashes {
            var h = UInt32(truncatingIfNeeded: full)
            let delta = (h >> 17) | (h << 15)
            for _ in 0..<6 { let bit = Int(h % UInt32(bitCount)); expected[bit / 8] |= 1 << UInt8(bit % 8); h = h &+ delta }
        }
        #expect(Array(filter.dropLast()) == expected)
        filter.withUnsafeBytes { f in
            for h in hashes { #expect(BloomFilter.mayContain(f, hash: h)) }
        }
    }

    @Test("a damaged filter trailer makes the filter say maybe, never a false absent")
    func unknownTrailer() {
        let hashes: [UInt64] = [1, 2, 3]
        var filter = BloomFilter.build(hashes: hashes, bitsPerKey: 10, layout: .blocked)
        filter[filter.count - 2] = 0  // probe count 0
        filter.withUnsafeBytes { f in #expect(BloomFilter.mayContain(f, hash: 99)) }
        filter[filter.count - 1] = 0xEE  // neither layout
        filter.withUnsafeBytes { f in #expect(BloomFilter.mayContain(f, hash: 99)) }
    }

    func tableLayouts(_ engine: LSMEngine) throws -> [BloomLayout?] {
        let files = engine.state.withLock { engine.versions.current.files.flatMap { $0 } }
        var layouts: [BloomLayout?] = []
        for file in files { layouts.append(try file.table().filterLayout) }
        return layouts
    }

    @Test("tables written with the legacy filter still read after reopening with the blocked layout, alongside new blocked tables, through compaction and reopen")
    func legacyTablesStillRead() throws {
        let fs = FaultInjectingFileSystem()
        var legacy = LSMTest.options(fs)
        legacy.bloomLayout = .legacy
        var engine = try LSMEngine(options: legacy)
        for i in 0..<2000 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        engine.waitForBackgroundWork()
        let written = try tableLayouts(engine)
        #expect(!written.isEmpty && written.allSatisfy { $0 == .legacy }, "the first engine wrote legacy filters only: \(written)")
        try engine.close()
        var blocked = LSMTest.options(fs)
        blocked.collectReadStatistics = true
        engine = try LSMEngine(options: blocked)
        #expect(try tableLayouts(engine).contains(.legacy), "the reopened engine still has the legacy tables")
        for i in 0..<2000 { #expect(try engine.get(LSMTest.key(i)) == LSMTest.value(i, version: 0), "legacy table, key \(i)") }
        // New writes go to blocked tables; older levels keep legacy ones until compacted.
        for i in stride(from: 0, to: 2000, by: 4) { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 1)) }
        for i in 2000..<2600 { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 1)) }
        try engine.flush()
        engine.waitForBackgroundWork()
        try engine.checkInvariants()
        try engine.close()
        engine = try LSMEngine(options: blocked)
        defer { try? engine.close() }
        let layouts = try tableLayouts(engine)
        #expect(layouts.contains(.blocked), "flushes and compactions after the reopen wrote blocked filters: \(layouts)")
        #expect(!layouts.contains(nil))
        for i in 0..<2600 {
            let want = LSMTest.value(i, version: i >= 2000 || i % 4 == 0 ? 1 : 0)
            #expect(try engine.get(LSMTest.key(i)) == want, "key \(i)")
        }
        for i in 2600..<2700 { #expect(try engine.get(LSMTest.key(i)) == nil) }
        let stats = try #require(engine.readStatistics)
        #expect(stats.gets == 2700)
        // Every present key was decided by exactly one component: the memtable or one table.
        #expect(stats.memtableAnswers + stats.filterTruePositives == 2600, "\(stats)")
        #expect(stats.filterChecks.reduce(0, +) == stats.filterNegatives + stats.filterTruePositives + stats.filterFalsePositives)
        #expect(stats.filterChecks.dropFirst().reduce(0, +) > 0, "reads reached level 1+")
    }
}

@Suite("LSM per-level file search and seek compaction")
struct LevelSearchTests {
    @Test("the per-level prefix arrays pick the same file as a full-key search, on keys that share long prefixes and tie on the next 8 bytes")
    func levelSearchMatchesFullKeys() throws {
        var random = SeededRandom(seed: LSMTest.seed(1803, "levelSearchMatchesFullKeys"))
        let files = TableFiles(fileSystem: FaultInjectingFileSystem(), directory: "/db")
        for _ in 0..<30 {
            // Sorted distinct user keys: a shared head, then 8 bytes that often tie, then a tail.
            let head = Array("0000000001".utf8.prefix(Int(random.next(below: 11))))
            var keys = Set<[UInt8]>()
            let wanted = 2 * (1 + Int(random.next(below: 12)))
            while keys.count < wanted {
                let middle = [UInt8](repeating: UInt8(48 + random.next(below: 2)), count: 8)
                keys.insert(head + middle + (0..<Int(random.next(below: 4))).map { _ in UInt8(48 + random.next(below: 3)) })
            }
            let sorted = keys.sorted { $0.lexicographicallyPrecedes($1) }
            var metas: [FileMetaData] = []
            for i in stride(from: 0, to: sorted.count, by: 2) {
                var smallest: [UInt8] = [], largest: [UInt8] = []
                sorted[i].withUnsafeBytes { InternalKey.append($0, sequence: 100, type: .value, to: &smallest) }
                sorted[i + 1].withUnsafeBytes { InternalKey.append($0, sequence: 50, type: .value, to: &largest) }
                metas.append(FileMetaData(number: UInt64(i), size: 4096, smallest: smallest, largest: largest, files: files))
            }
            let version = Version(files: [[], metas, [], [], [], [], []])
            var probes = sorted
            for _ in 0..<200 {
                let base = sorted[Int(random.next(below: UInt64(sorted.count)))]
                var probe = Array(base.prefix(Int(random.next(below: UInt64(base.count + 1)))))
                probe += (0..<Int(random.next(below: 4))).map { _ in UInt8(47 + random.next(below: 4)) }
                probes.append(probe)
            }
            let comparator = InternalKeyComparator()
            for probe in probes {
                for sequence: UInt64 in [InternalKey.maxSequence, 75, 10] {
                    let got = try probe.withUnsafeBytes { user in
                        try InternalKey.withLookupKey(user, sequence: sequence) { lookup in version.fileIndex(level: 1, lookup, userKey: user) }
                    }
                    // Full-key search: the first file whose largest internal key is >= the
                    // lookup key, if its smallest user key is <= the probe.
                    let want: Int? = try probe.withUnsafeBytes { user in
                        try InternalKey.withLookupKey(user, sequence: sequence) { lookup -> Int? in
                            guard let i = metas.firstIndex(where: { $0.largest.withUnsafeBytes { comparator.compare($0, lookup) >= 0 } }) else { return nil }
                            let inRange = metas[i].smallest.withUnsafeBytes { ByteOrder.compare(InternalKey.userKey($0), user) <= 0 }
                            return inRange ? i : nil
                        }
                    }
                    #expect(got == want, "probe \(String(decoding: probe, as: UTF8.self)) at \(sequence) over \(sorted.map { String(decoding: $0, as: UTF8.self) })")
                }
            }
        }
    }

    @Test("gets that keep consulting a table in vain get it compacted (seek compaction), so later gets consult fewer tables, and every value stays readable")
    func seekCompaction() throws {
        let fs = FaultInjectingFileSystem()
        var options = LSMTest.options(fs)
        options.collectReadStatistics = true
        let engine = try LSMEngine(options: options)
        defer { try? engine.close() }
        var random = SeededRandom(seed: LSMTest.seed(1804, "seekCompaction"))
        var order = Array(0..<3000)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(random.next(below: UInt64(i + 1)))) }
        for i in order { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        engine.waitForBackgroundWork()
        // Level-0 tables spanning the whole key range (rewriting every 7th key, same value),
        // fewer than the compaction trigger: most gets consult them in vain on their way down.
        for i in stride(from: 0, to: 3000, by: 7) { try engine.put(LSMTest.key(i), LSMTest.value(i, version: 0)) }
        engine.waitForBackgroundWork()
        func pass() throws -> Double {
            let before = try #require(engine.readStatistics)
            for i in 0..<3000 { #expect(try engine.get(LSMTest.key(i)) == LSMTest.value(i, version: 0), "key \(i)") }
            let d = try #require(engine.readStatistics).subtracting(before)
            return Double(d.filterChecks.reduce(0, +)) / Double(d.gets)
        }
        let progressBefore = engine.backgroundProgress
        let first = try pass()
        try #require(first > 1.2, "the fill should leave gets consulting several tables (\(first) per get)")
        for _ in 0..<8 { _ = try pass(); engine.waitForBackgroundWork() }
        let last = try pass()
        let progressAfter = engine.backgroundProgress
        #expect(progressAfter.compactions + progressAfter.trivialMoves > progressBefore.compactions + progressBefore.trivialMoves,
                "reads alone triggered compactions")
        #expect(last < first, "tables consulted per get: \(first) on the first pass, \(last) after seek compactions")
        try engine.checkInvariants()
    }
}
