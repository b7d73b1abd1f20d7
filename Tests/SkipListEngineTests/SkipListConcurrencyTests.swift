// Writers and readers on one engine at once: every read is a written value, every scan ordered.

import Foundation
import KVCore
import Testing
import SkipListEngine

@Suite("SkipListEngine concurrency")
struct SkipListConcurrencyTests {
    static let keyCount = 300
    static let writesPerWriter = 30000

    static func key(_ index: Int) -> [UInt8] {
        [0x6B] + withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }
    }

    /// keyIndex (4) | writer (1) | sequence (4) | filler: length varies so replacements move nodes.
    static func value(key index: Int, writer: Int, sequence: Int) -> [UInt8] {
        var out = withUnsafeBytes(of: UInt32(index).littleEndian) { Array($0) }
        out.append(UInt8(writer))
        out += withUnsafeBytes(of: UInt32(sequence).littleEndian) { Array($0) }
        out += [UInt8](repeating: UInt8(truncatingIfNeeded: sequence), count: sequence % 61)
        return out
    }

    /// Nil if `value` is one some writer wrote under key `index`, else what is wrong with it.
    static func problem(key index: Int, value: UnsafeRawBufferPointer) -> String? {
        guard value.count >= 9 else { return "value of \(value.count) bytes is too short" }
        let keyIndex = Int(value.loadUnaligned(as: UInt32.self).littleEndian)
        let writer = Int(value[4])
        let sequence = Int(value.loadUnaligned(fromByteOffset: 5, as: UInt32.self).littleEndian)
        guard keyIndex == index else { return "value of key \(keyIndex) found under key \(index)" }
        guard writer < 2, sequence < writesPerWriter else { return "writer \(writer) sequence \(sequence) never written" }
        guard value.count == 9 + sequence % 61,
              value[9...].allSatisfy({ $0 == UInt8(truncatingIfNeeded: sequence) }) else {
            return "torn value for writer \(writer) sequence \(sequence)"
        }
        return nil
    }

    @Test("two writers and two readers on overlapping keys see only written values and ordered scans")
    func writersAndReaders() throws {
        let seed = testSeed()
        let engine = SkipListEngine(seed: seed)
        let log = ProblemLog()
        @Sendable func report(_ text: String) { log.report(text + " (seed \(seed))") }

        let done = DispatchGroup()
        for thread in 0..<4 {
            done.enter()
            Thread {
                defer { done.leave() }
                var random = SeededRandom(seed: seed &+ UInt64(thread))
                if thread < 2 {
                    for sequence in 0..<Self.writesPerWriter {
                        let index = Int(random.next(below: UInt64(Self.keyCount)))
                        do {
                            if random.next(below: 5) == 0 {
                                try engine.delete(Self.key(index))
                            } else {
                                try engine.put(Self.key(index), Self.value(key: index, writer: thread, sequence: sequence))
                            }
                        } catch { report("writer: \(error)") }
                    }
                } else {
                    for round in 0..<30000 {
                        do {
                            let index = Int(random.next(below: UInt64(Self.keyCount)))
                            let issue = try Self.key(index).withBytes { (k) throws(EngineError) in
                                try engine.get(k) { Self.problem(key: index, value: $0) }
                            }
                            if let issue = issue ?? nil { report("get: \(issue)") }
                            if round % 20 == 0 {
                                var previous: [UInt8]? = nil
                                try Self.key(index).withBytes { (start) throws(EngineError) in
                                    try engine.scan(from: start, limit: 40) { k, v in
                                        let key = Array(k)
                                        if let previous, !previous.lexicographicallyPrecedes(key) {
                                            report("scan: \(key.debugText) after \(previous.debugText)")
                                        }
                                        if key.count != 5 {
                                            report("scan: unexpected key \(key.debugText)")
                                        } else if let issue = Self.problem(key: Int(k.loadUnaligned(fromByteOffset: 1, as: UInt32.self).bigEndian), value: v) {
                                            report("scan: \(issue)")
                                        }
                                        previous = key
                                        return true
                                    }
                                }
                            }
                        } catch { report("reader: \(error)") }
                    }
                }
            }.start()
        }
        done.wait()
        #expect(log.all.isEmpty, "\(log.all.prefix(5))")
        try engine.checkInvariants()
        #expect((engine.count ?? -1) <= Self.keyCount)
    }

    @Test("readers see a write batch wholly or not at all")
    func batchesAreAtomic() throws {
        let engine = SkipListEngine()
        let keys: [[UInt8]] = [[1], [2], [3]]
        var initial = WriteBatch()
        for key in keys { initial.put(key, [0]) }
        try engine.write(initial, options: .default)
        let log = ProblemLog()
        let done = DispatchGroup()
        done.enter()
        Thread {
            defer { done.leave() }
            for generation in 1...3000 {
                var batch = WriteBatch()
                // Sizes differ per generation so some puts move their node.
                let value = [UInt8](repeating: UInt8(truncatingIfNeeded: generation), count: 1 + generation % 20)
                for key in keys { batch.put(key, value) }
                try? engine.write(batch, options: .default)
            }
        }.start()
        done.enter()
        Thread {
            defer { done.leave() }
            for _ in 0..<3000 {
                guard let records = try? engine.scan(from: [], limit: 10) else { continue }
                if records.count != 3 || Set(records.map(\.value)).count != 1 {
                    log.report("\(records)")
                }
            }
        }.start()
        done.wait()
        #expect(log.all.isEmpty, "\(log.all.prefix(3))")
    }
}
