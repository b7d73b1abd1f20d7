// YCSB key streams stay bit-identical: digests of the first 100k operations per workload and seed,
// captured from the generators as they were before the per-op cost work of issue 18.

import Foundation
import KVCore
import Testing
@testable import Workload

/// One captured stream: a workload (file plus overrides), a seed, and what its first
/// `KeyStreamFixture.operations` run-phase operations on thread 0 digest to.
struct KeyStreamCase: Sendable, CustomStringConvertible {
    var workload: String
    var overrides: [String]
    var seed: UInt64
    var description: String { "\(workload) \(overrides.joined(separator: " ")) seed=\(seed)" }
}

enum KeyStreamFixture {
    static let operations = 100_000
    static let seeds: [UInt64] = [1, 301, 0xDEAD_BEEF]
    static let workloads: [(String, [String])] = [
        ("workloada", []),
        ("workloadd", []),
        ("workloade", []),
        ("workloadf", []),
        ("workloada", ["requestdistribution=uniform"]),
        ("workloada", ["requestdistribution=hotspot"]),
        ("workloada", ["requestdistribution=exponential"]),
        ("workloada", ["requestdistribution=sequential"]),
        ("workloada", ["insertorder=ordered", "zeropadding=12"]),
    ]
    static var cases: [KeyStreamCase] {
        workloads.flatMap { (w, o) in seeds.map { KeyStreamCase(workload: w, overrides: o, seed: $0) } }
    }

    /// A 64-bit digest of every operation's kind, key number, key bytes, scan length and the
    /// fields it reads and writes: any change in a generator's sequence changes it.
    static func digest(_ c: KeyStreamCase) throws -> (digest: UInt64, firstKey: String) {
        var configuration = try CoreWorkloadConfiguration.load(files: [workloadsDirectory + "/" + c.workload], overrides: c.overrides)
        configuration.seed = c.seed
        let workload = try CoreWorkload(configuration: configuration)
        var thread = workload.makeThread(index: 0)
        // Word-wise FNV-style mixing (a few calls per operation: the test runs in debug builds).
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ word: UInt64) { hash = (hash ^ word) &* 0x0000_0100_0000_01B3; hash ^= hash >> 29 }
        var firstKey = ""
        for n in 0..<operations {
            let op = thread.nextTransactionOperation()
            if n == 0 { firstKey = op.keyString }
            let read: UInt64
            switch op.readFields {
            case .none: read = 0
            case .all: read = 1
            case .allByName: read = 2
            case .one(let f): read = 3 | UInt64(f) << 8
            }
            mix(UInt64(op.kind.rawValue) | UInt64(op.scanLength) << 8 | read << 32)
            mix(UInt64(bitPattern: op.keyNumber))
            mix(UInt64(op.writeFields.lowerBound) | UInt64(op.writeFields.upperBound) << 32)
            // The key: its length, then its bytes eight at a time (the tail zero-padded).
            mix(UInt64(op.key.count))
            var offset = 0
            while offset < op.key.count {
                var word: UInt64 = 0
                for i in offset..<min(offset + 8, op.key.count) { word |= UInt64(op.key[i]) << (8 * UInt64(i - offset)) }
                mix(word)
                offset += 8
            }
            if op.kind == .insert { try thread.acknowledgeInsert(op.keyNumber) }
        }
        return (hash, firstKey)
    }
}

@Suite("Key stream fixture")
struct KeyStreamFixtureTests {
    @Test("YCSB key streams are bit-identical to the captured ones for the same seed",
          arguments: KeyStreamFixture.cases)
    func streamsMatchTheFixture(_ c: KeyStreamCase) throws {
        let (digest, firstKey) = try KeyStreamFixture.digest(c)
        if ProcessInfo.processInfo.environment["KVLAB_CAPTURE_KEY_STREAMS"] != nil {
            print("CAPTURE \"\(c.description)\": (0x\(String(digest, radix: 16)), \"\(firstKey)\"),")
        }
        guard let expected = capturedKeyStreams[c.description] else {
            Issue.record("no captured stream for \(c)")
            return
        }
        #expect(firstKey == expected.firstKey, "\(c): first key")
        #expect(digest == expected.digest, "\(c): digest 0x\(String(digest, radix: 16)), captured 0x\(String(expected.digest, radix: 16))")
    }

    @Test("the stream digest tells a different seed apart")
    func digestDependsOnTheSeed() throws {
        let a = try KeyStreamFixture.digest(KeyStreamCase(workload: "workloada", overrides: [], seed: 7))
        let b = try KeyStreamFixture.digest(KeyStreamCase(workload: "workloada", overrides: [], seed: 8))
        #expect(a.digest != b.digest)
    }
}
