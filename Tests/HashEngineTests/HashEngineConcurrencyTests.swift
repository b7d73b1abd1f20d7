// Concurrent writers and readers on overlapping keys: every read sees some writer's value.

import Foundation
import Testing
@testable import HashEngine
import KVCore

@Suite("hash engine concurrency")
struct HashEngineConcurrencyTests {
    /// A value naming its writer and that writer's operation counter; its length varies with
    /// the counter so overwrites alternate between in-place and moved records.
    static func encode(writer: Int, counter: Int) -> [UInt8] {
        var bytes = [UInt8(writer)] + withUnsafeBytes(of: UInt32(counter).littleEndian, Array.init)
        bytes += [UInt8](repeating: UInt8(writer), count: counter % 37)
        return bytes
    }

    /// The (writer, counter) a value encodes, or nil if no writer could have written it.
    static func decode(_ bytes: [UInt8], writers: Int, operations: Int) -> (writer: Int, counter: Int)? {
        guard bytes.count >= 5, Int(bytes[0]) < writers else { return nil }
        let counter = Int(bytes[1]) | Int(bytes[2]) << 8 | Int(bytes[3]) << 16 | Int(bytes[4]) << 24
        guard counter < operations, bytes == encode(writer: Int(bytes[0]), counter: counter) else { return nil }
        return (Int(bytes[0]), counter)
    }

    final class Outcome: @unchecked Sendable {
        let lock = Lock()
        var badReads: [String] = []
        var errors: [String] = []
        /// Per writer and key: the last operation on it, nil for a delete.
        var lastWrite: [[Int: [UInt8]?]] = []
    }

    @Test("four threads writing and reading overlapping keys only ever read written values")
    func overlappingWriters() throws {
        let seed = testSeed()
        let writers = 4, operations = 20_000, keys = 300
        // Few shards and no presizing, so migrations run while threads contend.
        let engine = HashEngine(shardCount: 2)
        let outcome = Outcome()
        outcome.lastWrite = Array(repeating: [:], count: writers)
        let group = DispatchGroup()
        for writer in 0..<writers {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var random = SeededRandom(seed: seed &+ UInt64(writer))
                var last: [Int: [UInt8]?] = [:]
                var bad: [String] = []
                do {
                    for counter in 0..<operations {
                        let k = Int(random.next(below: UInt64(keys)))
                        switch random.next(below: 10) {
                        case 0..<4:
                            let value = Self.encode(writer: writer, counter: counter)
                            try engine.put(key16(k), value)
                            last[k] = .some(value)
                        case 4:
                            _ = try engine.delete(key16(k))
                            last[k] = .some(nil)
                        case 5:
                            var batch = WriteBatch()
                            let value = Self.encode(writer: writer, counter: counter)
                            batch.put(key16(k), value)
                            batch.put(key16((k + 1) % keys), value)
                            try engine.write(batch, options: .default)
                            last[k] = .some(value)
                            last[(k + 1) % keys] = .some(value)
                        default:
                            if let value = try engine.get(key16(k)),
                               Self.decode(value, writers: writers, operations: operations) == nil {
                                bad.append("key \(k): \(value.debugText)")
                            }
                        }
                    }
                } catch {
                    outcome.lock.withLock { outcome.errors.append("writer \(writer): \(error)") }
                }
                outcome.lock.withLock {
                    outcome.badReads += bad
                    outcome.lastWrite[writer] = last
                }
            }
            thread.start()
        }
        group.wait()
        #expect(outcome.errors.isEmpty, "seed \(seed): \(outcome.errors)")
        #expect(outcome.badReads.isEmpty, "seed \(seed): \(outcome.badReads.prefix(5))")
        try engine.checkInvariants()

        // Each key ends as the last write of one of the writers that touched it.
        var present = 0
        for k in 0..<keys {
            let finals = outcome.lastWrite.compactMap { $0[k] }
            let value = try engine.get(key16(k))
            if value != nil { present += 1 }
            if finals.isEmpty {
                #expect(value == nil, "seed \(seed): untouched key \(k)")
            } else {
                #expect(finals.contains(value), "seed \(seed): key \(k) holds \(value?.debugText ?? "nothing"), not any writer's last write")
            }
        }
        #expect(engine.count == present, "seed \(seed)")
    }
}
