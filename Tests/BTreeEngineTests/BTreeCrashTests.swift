// Crash safety under a fault-injecting file system: power cuts at random points, torn tails,
// failing fsyncs and writes. Oracle: the reopened tree equals the state after some prefix of
// the operations that includes every write acknowledged as synced.

import Foundation
import KVCore
import KVStorage
import Testing
@testable import BTreeEngine

@Suite("B-tree crash safety (fault-injecting file system)")
struct BTreeCrashTests {
    @Test("after a power cut at a random point the file opens and holds every synced write and no deleted key",
          arguments: [DurabilityPolicy.buffered, periodicByHand, .always], 0..<2)
    func powerCutsAtRandomPoints(durability: DurabilityPolicy, round: Int) throws {
        let seed = testSeed() &+ UInt64(round)
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        let fs = FaultInjectingFileSystem()
        let pageSize = [512, 1024, 4096][Int(rng.next(below: 3))]
        let commitBytes = pageSize * (8 + Int(rng.next(below: 64)))
        func open() throws -> BTreeEngine {
            try openTree(fs, pageSize: pageSize, cacheBytes: pageSize * (16 + Int(rng.next(below: 64))), durability: durability,
                         commitBytes: commitBytes)
        }
        var engine = try open()
        // `candidates`: the states the file may recover to — the last synced state and every
        // state after it (an automatic checkpoint under `buffered`, or the OS under the other
        // policies, may have made any of them durable).
        var model: [[UInt8]: [UInt8]] = [:]
        var candidates: [[[UInt8]: [UInt8]]] = [model]
        for crash in 0..<12 {
            let operations = 20 + Int(rng.next(below: 300))
            // Sometimes a fault: the n-th fsync fails, or the disk fills up.
            switch rng.next(below: 4) {
            case 0: fs.failSync(after: 1 + Int(rng.next(below: 6)))
            case 1: fs.failWrites(afterBytes: Int(rng.next(below: UInt64(40 * pageSize))))
            default: break
            }
            var failed = false
            for _ in 0..<operations {
                let k = key(Int(rng.next(below: 400)))
                let sync = rng.next(below: 8) == 0
                var batch = WriteBatch()
                if rng.next(below: 4) == 0 {
                    batch.delete(k)
                } else {
                    let size = rng.next(below: 15) == 0 ? Int(rng.next(below: UInt64(3 * pageSize))) : Int(rng.next(below: 80))
                    batch.put(k, randomBytes(&rng, count: size))
                }
                if rng.next(below: 6) == 0 { batch.put(key(Int(rng.next(below: 400))), randomBytes(&rng, count: 10)) }
                var next = model
                batch.forEach { op in
                    switch op {
                    case let .put(k, v): next[Array(k)] = Array(v)
                    case let .delete(k): next[Array(k)] = nil
                    }
                }
                do {
                    try engine.write(batch, options: WriteOptions(sync: sync))
                } catch {
                    // Not acknowledged: it may or may not have become durable.
                    candidates.append(next)
                    failed = true
                    break
                }
                model = next
                if sync { candidates = [model] } else { candidates.append(model) }
            }
            fs.crash(tearingWith: &rng)
            let reopened: BTreeEngine
            do {
                reopened = try open()
            } catch {
                Issue.record("seed \(seed) crash \(crash): the file does not open: \(error)")
                return
            }
            engine = reopened
            try engine.checkInvariants()
            let recovered = Dictionary(uniqueKeysWithValues: try engine.scan(from: [], limit: .max).map { ($0.key, $0.value) })
            guard let match = candidates.lastIndex(where: { $0 == recovered }) else {
                let synced = candidates[0]
                let lost = synced.keys.filter { recovered[$0] != synced[$0] }.prefix(3).map(\.debugText)
                Issue.record("seed \(seed) crash \(crash) (failed=\(failed)): recovered \(recovered.count) records, matching no allowed state; differs from the last synced state at \(lost)")
                return
            }
            model = candidates[match]
            candidates = [model]
        }
        try engine.close()
    }
}
