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
