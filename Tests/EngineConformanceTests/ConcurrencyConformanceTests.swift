// Several threads on overlapping keys: every read and the final state must be explainable.

import Dispatch
import KVCore
import Synchronization
import Testing

/// Values that say who wrote them: writer id, that writer's counter, and the key index, padded
/// to a length derived from the counter with a checkable fill byte.
enum StampedValue {
    static func make(writer: Int, counter: UInt64, keyIndex: Int) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(writer)]
        withUnsafeBytes(of: counter.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(keyIndex & 0xFF))
        bytes.append(UInt8(keyIndex >> 8))
        let fill = UInt8(truncatingIfNeeded: UInt64(writer) ^ counter)
        bytes.append(contentsOf: repeatElement(fill, count: Int(counter % 150)))
        return bytes
    }

    /// Decodes a value, or nil if it is not one `make` could have produced.
    static func parse(_ bytes: [UInt8]) -> (writer: Int, counter: UInt64, keyIndex: Int)? {
        guard bytes.count >= 11 else { return nil }
        let writer = Int(bytes[0])
        var counter: UInt64 = 0
        for i in 0..<8 { counter |= UInt64(bytes[1 + i]) << (8 * UInt64(i)) }
        let keyIndex = Int(bytes[9]) | Int(bytes[10]) << 8
        guard bytes.count == 11 + Int(counter % 150) else { return nil }
        let fill = UInt8(truncatingIfNeeded: UInt64(writer) ^ counter)
        guard bytes[11...].allSatisfy({ $0 == fill }) else { return nil }
        return (writer, counter, keyIndex)
    }
}

@Suite("Engine conformance: concurrency")
struct ConcurrencyConformanceTests {
    static let threads = 4
    static let keys = 64
    static let operationsPerThread = 20_000

    @Test("concurrent writers and readers on overlapping keys: every read and the final state are explainable",
          arguments: EngineUnderTest.storing)
    func concurrentOverlappingKeys(subject: EngineUnderTest) throws {
        let engine = try subject.open()
        defer { try? engine.close() }
        let ordered = engine.capabilities.contains(.orderedScan)
        let published = Mutex<[UInt64]>(Array(repeating: 0, count: Self.threads))
        let problems = Mutex<[String]>([])
        // Per writer, per key: the counter of its last put (0 = none) and whether a delete came after.
        let lastOps = Mutex<[[(counter: UInt64, deleted: Bool)]]>(Array(repeating: Array(repeating: (0, false), count: Self.keys), count: Self.threads))
        let seed: UInt64 = 0xBEEF

        @Sendable func key(_ i: Int) -> [UInt8] { Array("key-\(i % 8)-\(i)".utf8) }

        DispatchQueue.concurrentPerform(iterations: Self.threads) { writer in
            var rng = SeededRandom(seed: seed &+ UInt64(writer))
            var counter: UInt64 = 0
            var mine = Array(repeating: (counter: UInt64(0), deleted: false), count: Self.keys)
            func report(_ text: String) { problems.withLock { $0.append("thread \(writer): \(text)") } }
            do {
                for _ in 0..<Self.operationsPerThread {
                    let k = Int(rng.next(below: UInt64(Self.keys)))
                    switch rng.next(below: 10) {
                    case 0..<4:
                        counter += 1
                        // Publish before writing: a visible value's counter is never ahead of its writer.
                        published.withLock { $0[writer] = counter }
                        try engine.put(key(k), StampedValue.make(writer: writer, counter: counter, keyIndex: k))
                        mine[k] = (counter, false)
                    case 4:
                        _ = try engine.delete(key(k))
                        mine[k].deleted = true
                    case 5 where ordered:
                        let start = key(k)
                        let rows = try engine.scan(from: start, limit: 10)
                        for (a, b) in zip(rows, rows.dropFirst()) where !a.key.lexicographicallyPrecedes(b.key) {
                            report("scan out of order: \(a.key.debugText) then \(b.key.debugText)")
                        }
                        for row in rows {
                            if row.key.lexicographicallyPrecedes(start) { report("scan returned \(row.key.debugText) before start") }
                            if StampedValue.parse(row.value) == nil { report("scan returned a value no writer wrote") }
                        }
                    default:
                        guard let value = try engine.get(key(k)) else { continue }
                        guard let stamp = StampedValue.parse(value) else {
                            report("read of key \(k) returned \(value.count) bytes no writer wrote")
                            continue
                        }
                        if stamp.keyIndex != k { report("read of key \(k) returned the value of key \(stamp.keyIndex)") }
                        if stamp.writer >= Self.threads || stamp.counter > published.withLock({ $0[stamp.writer] }) {
                            report("read of key \(k) returned writer \(stamp.writer) counter \(stamp.counter), not yet written")
                        }
                    }
                }
            } catch {
                report("engine error: \(error)")
            }
            lastOps.withLock { $0[writer] = mine }
        }

        // Final state: each key holds some writer's last put, or is absent because some writer's
        // last operation on it was a delete (or nobody wrote it).
        let finals = lastOps.withLock { $0 }
        for k in 0..<Self.keys {
            let value = try engine.get(key(k))
            let candidates = (0..<Self.threads).filter { finals[$0][k].counter > 0 }
            if let value {
                guard let stamp = StampedValue.parse(value), stamp.keyIndex == k else {
                    problems.withLock { $0.append("final value of key \(k) is not a written value") }
                    continue
                }
                let explained = finals[stamp.writer][k].counter == stamp.counter
                if !explained {
                    problems.withLock { $0.append("final value of key \(k) is writer \(stamp.writer)'s counter \(stamp.counter), not its last put \(finals[stamp.writer][k].counter)") }
                }
            } else {
                let explained = candidates.isEmpty || (0..<Self.threads).contains { finals[$0][k].deleted }
                if !explained { problems.withLock { $0.append("key \(k) is absent but no writer's last operation deleted it") } }
            }
        }
        try engine.checkInvariants()
        let found = problems.withLock { $0 }
        #expect(found.isEmpty, "\(subject.name), seed \(seed): \(found.prefix(10).joined(separator: "; "))")
    }
}
