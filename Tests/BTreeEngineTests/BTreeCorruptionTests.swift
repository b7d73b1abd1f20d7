// Checksums on every page: a flipped byte anywhere is reported as corruption naming the page,
// never returned as data.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import BTreeEngine

@Suite("B-tree corruption detection")
struct BTreeCorruptionTests {
    /// A closed tree of `n` records (every 13th with a value over a page) and its records.
    private func makeTree(_ fs: FaultInjectingFileSystem, n: Int) throws -> [[UInt8]: [UInt8]] {
        let engine = try openTree(fs, pageSize: 1024, cacheBytes: 64 << 10)
        var rng = SeededRandom(seed: 99)
        var model: [[UInt8]: [UInt8]] = [:]
        for i in 0..<n {
            let v = randomBytes(&rng, count: i % 13 == 0 ? 2_500 : 30)
            try engine.put(key(i), v)
            model[key(i)] = v
        }
        try engine.close()
        return model
    }

    @Test("a byte flipped in any page makes reads of it throw corruption naming that page; other reads stay correct")
    func flippedBytesAreDetected() throws {
        let seed = testSeed()
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        let fs = FaultInjectingFileSystem()
        let model = try makeTree(fs, n: 1_000)
        let path = "/db/" + BTreeEngine.fileName
        let original = fs.contents(of: path)!
        let pageSize = 1024
        let pages = original.count / pageSize
        var detected = 0
        for page in 2..<pages {
            var bytes = original
            let offset = page * pageSize + Int(rng.next(below: UInt64(pageSize)))
            bytes[offset] ^= UInt8(1 + rng.next(below: 255))
            fs.setContents(of: path, bytes)
            defer { fs.setContents(of: path, original) }
            var opened: BTreeEngine? = nil
            do {
                opened = try openTree(fs, pageSize: pageSize, cacheBytes: 64 << 10)
            } catch {
                // Only the free list is read on open.
                if case let .corruption(file, errorOffset, detail)? = error as? EngineError {
                    #expect(file == path && detail.contains("page \(page)") && errorOffset == Int64(page * pageSize), "\(detail)")
                } else {
                    Issue.record("page \(page) flipped: open failed with \(error), expected corruption")
                }
                detected += 1
                continue
            }
            let engine = opened!
            var sawError = false
            for (k, v) in model {
                do {
                    let got = try engine.get(k)
                    #expect(got == v, "page \(page) flipped at \(offset): \(k.debugText) read back wrong")
                } catch {
                    if case let .corruption(_, errorOffset, detail) = error {
                        #expect(detail.hasPrefix("page \(page):"), "\(detail)")
                        #expect(errorOffset >= Int64(page * pageSize) && errorOffset < Int64((page + 1) * pageSize))
                    } else {
                        Issue.record("page \(page) flipped: read failed with \(error), expected corruption")
                    }
                    sawError = true
                }
            }
            try? engine.close()
            if sawError { detected += 1 }
        }
        // Every page in use holds records, separators, overflow data or the free list; a few
        // may be free pages that no read touches.
        print("corruption detected in \(detected) of \(pages - 2) pages")
        #expect(detected >= (pages - 2) * 9 / 10)
    }

    @Test("a torn newest meta page falls back to the previous commit; two bad meta pages are reported")
    func metaPages() throws {
        let fs = FaultInjectingFileSystem()
        let engine = try openTree(fs, pageSize: 1024)
        try engine.put(Array("a".utf8), [1], options: .synced)
        try engine.close()  // a checkpoint holding "a"
        let again = try openTree(fs, pageSize: 1024)
        try again.put(Array("b".utf8), [2], options: .synced)
        again.abandon()  // the newest meta: a synced group commit holding "a" and "b"
        let path = "/db/" + BTreeEngine.fileName
        let original = fs.contents(of: path)!
        // Which slot is newer: transaction ids at byte 32 of each meta page.
        func transaction(_ slot: Int) -> UInt64 {
            original.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: slot * 1024 + 32, as: UInt64.self)) }
        }
        let newest = transaction(0) > transaction(1) ? 0 : 1
        var torn = original
        for i in (newest * 1024 + 100)..<(newest * 1024 + 1024) { torn[i] = 0xAB }
        fs.setContents(of: path, torn)
        let fallback = try openTree(fs, pageSize: 1024)
        #expect(try fallback.get(Array("a".utf8)) == [1])
        #expect(try fallback.get(Array("b".utf8)) == nil)
        try fallback.checkInvariants()
        try fallback.close()
        var bothBad = original
        bothBad[40] ^= 1
        bothBad[1024 + 40] ^= 1
        fs.setContents(of: path, bothBad)
        #expect {
            try openTree(fs, pageSize: 1024)
        } throws: { error in
            guard case let EngineError.corruption(file, offset, detail) = error else { return false }
            return file == path && offset == 0 && detail.contains("no valid meta page")
        }
    }
}
