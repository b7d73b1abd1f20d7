// Review check: the in-place block search never reads outside a damaged or truncated block.

import Foundation
import KVCore
import Testing
@testable import LSMEngine

@Suite("LSM in-place block search on damaged blocks")
struct BlockPointSearchFuzzTests {
    /// A block of internal keys (short, shared-prefix and some longer than the 512-byte scratch
    /// buffer), restart interval 4, and the internal keys in it.
    static func block(_ random: inout SeededRandom) -> (bytes: [UInt8], keys: [[UInt8]]) {
        var users = Set<[UInt8]>()
        while users.count < 40 {
            let length = random.next(below: 15) == 0 ? 500 + Int(random.next(below: 40)) : Int(random.next(below: 20))
            users.insert((0..<length).map { _ in 97 + UInt8(random.next(below: 3)) })
        }
        var builder = BlockBuilder(restartInterval: 4)
        var keys: [[UInt8]] = []
        for user in users.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            var key: [UInt8] = []
            user.withUnsafeBytes { InternalKey.append($0, sequence: 100 + random.next(below: 50), type: random.next(below: 4) == 0 ? .deletion : .value, to: &key) }
            let value = [UInt8](repeating: 0x76, count: Int(random.next(below: 30)))
            key.withUnsafeBytes { k in value.withUnsafeBytes { builder.add(k, $0) } }
            keys.append(key)
        }
        return (builder.finish(), keys)
    }

    @Test("a search of a block with flipped bytes or cut short stays inside the block and reports values inside it")
    func damagedBlocks() throws {
        let seed = LSMTest.seed(0xB10C, "damagedBlocks")
        var random = SeededRandom(seed: seed)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        // Guard page, 8 data pages, guard page: a damaged block is copied to end exactly at the
        // second guard, so any read past its end faults (the test crashes instead of passing).
        let dataPages = 8
        let total = (dataPages + 2) * page
        let region = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let region, region != MAP_FAILED else { Issue.record("mmap of \(total) bytes failed"); return }
        defer { munmap(region, total) }
        #expect(mprotect(region, page, PROT_NONE) == 0)
        #expect(mprotect(region + (dataPages + 1) * page, page, PROT_NONE) == 0)
        let limit = region + (dataPages + 1) * page
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)
        defer { scratch.deallocate() }
        for round in 0..<300 {
            let (clean, keys) = Self.block(&random)
            #expect(clean.count <= dataPages * page)
            var bytes = clean
            switch round % 3 {
            case 0: // flip a few bytes anywhere (headers, restart array, restart count)
                for _ in 0..<(1 + Int(random.next(below: 4))) {
                    bytes[Int(random.next(below: UInt64(bytes.count)))] ^= UInt8(1 + random.next(below: 255))
                }
            case 1: // cut short: the trailing bytes then read as restart count and array
                bytes.removeLast(Int(random.next(below: UInt64(bytes.count))))
            default: // a huge varint or length in an entry header
                let at = Int(random.next(below: UInt64(bytes.count)))
                bytes[at] = 0xFF
                if at + 1 < bytes.count { bytes[at + 1] = UInt8(random.next(below: 256)) }
            }
            let start = limit - bytes.count
            bytes.withUnsafeBytes { if $0.count > 0 { start.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            for key in keys + [Array("b".utf8) + [0, 0, 0, 0, 0, 0, 0, 0]] {
                let user = Array(key.dropLast(8))
                let outcome = key.withUnsafeBytes { k in
                    user.withUnsafeBytes { u in
                        BlockPointSearch.find(UnsafeRawPointer(start), count: bytes.count, lookupKey: k, userKey: u, scratch: scratch)
                    }
                }
                if case let .value(valueStart, valueCount) = outcome {
                    #expect(valueStart >= 0 && valueCount >= 0 && valueStart + valueCount <= bytes.count,
                            "seed \(seed) round \(round): value at \(valueStart)+\(valueCount) outside a \(bytes.count)-byte block")
                }
            }
        }
    }
}
