// Drives an engine with a seeded random operation sequence and checks every step against the model.

import Foundation
import KVCore

/// The first step where an engine disagreed with the reference model.
struct ConformanceFailure: Error, CustomStringConvertible {
    var engine: String
    var seed: UInt64
    var step: Int
    var operation: String
    var expected: String
    var actual: String

    var description: String {
        "\(engine): step \(step) (seed \(seed); replay with KVLAB_SEED=\(seed)): \(operation): expected \(expected), got \(actual)"
    }
}

/// Random operation sequences: mixed get/put/delete/scan/batch over a small, colliding key space,
/// with empty keys, empty values, long keys and large values.
struct ConformanceRunner {
    var subject: EngineUnderTest
    var seed: UInt64
    var operations: Int
    /// Distinct short keys; small, so operations collide.
    var keySpace = 300
    /// Close and reopen persistent engines every this many steps.
    var reopenEvery = 1_500

    /// Seeds the suite runs by default; `KVLAB_SEED` replaces them with one.
    static var seeds: [UInt64] {
        if let text = ProcessInfo.processInfo.environment["KVLAB_SEED"], let seed = UInt64(text) { return [seed] }
        return [1, 2, 0xC0FFEE]
    }

    /// Runs the sequence. Returns the first disagreement, or nil if every step matched.
    func run() throws -> ConformanceFailure? {
        var engine = try subject.open()
        defer { try? engine.close() }
        var model = ReferenceModel(semantics: subject.semantics)
        var rng = SeededRandom(seed: seed)
        let keys = makeKeys(&rng)
        let ordered = engine.capabilities.contains(.orderedScan)

        func fail(_ step: Int, _ operation: String, _ expected: String, _ actual: String) -> ConformanceFailure {
            ConformanceFailure(engine: subject.name, seed: seed, step: step, operation: operation, expected: expected, actual: actual)
        }

        for step in 0..<operations {
            let key = pickKey(keys, &rng)
            let roll = rng.next(below: 100)
            switch roll {
            case 0..<30:
                let got = try engine.get(key)
                let want = model.get(key)
                if got != want { return fail(step, "get \(key.debugText)", describe(want), describe(got)) }
            case 30..<62:
                let value = makeValue(&rng, step: step)
                try engine.put(key, value)
                model.put(key, value)
            case 62..<77:
                let existed = try engine.delete(key)
                let want = model.delete(key)
                if existed != want { return fail(step, "delete \(key.debugText)", "existed=\(want)", "existed=\(existed)") }
            case 77..<90:
                let start = rng.next(below: 4) == 0 ? randomBytes(&rng, count: Int(rng.next(below: 6))) : key
                let limit = Int(rng.next(below: 40))
                if ordered {
                    let got = try engine.scan(from: start, limit: limit)
                    let want = model.scan(from: start, limit: limit)
                    if got != want {
                        return fail(step, "scan from \(start.debugText) limit \(limit)", summarize(want), summarize(got))
                    }
                    // Stopping early must stop, after the first records in order.
                    let stopAfter = Int(rng.next(below: 5)) + 1
                    var visited: [[UInt8]] = []
                    try start.withBytes { (s) throws(EngineError) in
                        try engine.scan(from: s, limit: .max) { k, _ in visited.append(Array(k)); return visited.count < stopAfter }
                    }
                    let expectedKeys = model.scan(from: start, limit: stopAfter).map(\.key)
                    if visited != expectedKeys {
                        return fail(step, "scan from \(start.debugText) stopping after \(stopAfter)",
                                    "keys \(expectedKeys.map(\.debugText))", "keys \(visited.map(\.debugText))")
                    }
                } else {
                    do {
                        _ = try engine.scan(from: start, limit: limit)
                        return fail(step, "scan on an unordered engine", "EngineError.unsupported", "success")
                    } catch {
                        guard case .unsupported = error else {
                            return fail(step, "scan on an unordered engine", "EngineError.unsupported", "\(error)")
                        }
                    }
                }
            case 90..<96:
                var batch = WriteBatch()
                for _ in 0..<Int(rng.next(below: 8)) {
                    let k = pickKey(keys, &rng)
                    if rng.next(below: 3) == 0 { batch.delete(k) } else { batch.put(k, makeValue(&rng, step: step)) }
                }
                try engine.write(batch, options: WriteOptions(sync: rng.next(below: 2) == 0))
                model.apply(batch)
            default:
                // Read back a whole key range after a burst, and the count where the engine keeps one.
                if let count = engine.count, subject.semantics == .storing, count != model.count {
                    return fail(step, "count", "\(model.count)", "\(count)")
                }
                try engine.checkInvariants()
            }
            if let reopen = subject.reopen, step > 0, step % reopenEvery == 0 {
                engine = try reopen(engine)
            }
        }
        // Final sweep: every key the model holds, and none it does not.
        for key in keys {
            let got = try engine.get(key)
            let want = model.get(key)
            if got != want { return fail(operations, "final get \(key.debugText)", describe(want), describe(got)) }
        }
        try engine.checkInvariants()
        return nil
    }

    private func makeKeys(_ rng: inout SeededRandom) -> [[UInt8]] {
        var keys: [[UInt8]] = [[]]  // the empty key
        var seen: Set<[UInt8]> = [[]]
        while keys.count < keySpace {
            let length = Int(rng.next(below: 24)) + 1
            // Keys share prefixes often, so ordering and prefix handling are exercised.
            let prefix = keys.count > 1 && rng.next(below: 3) == 0 ? Array(keys[Int(rng.next(below: UInt64(keys.count)))].prefix(4)) : []
            let key = prefix + randomBytes(&rng, count: length)
            if seen.insert(key).inserted { keys.append(key) }
        }
        // A few long keys.
        for _ in 0..<4 {
            keys.append(randomBytes(&rng, count: 1024 + Int(rng.next(below: 1024))))
        }
        return keys
    }

    private func pickKey(_ keys: [[UInt8]], _ rng: inout SeededRandom) -> [UInt8] {
        keys[Int(rng.next(below: UInt64(keys.count)))]
    }

    private func makeValue(_ rng: inout SeededRandom, step: Int) -> [UInt8] {
        if step == operations / 2 { return randomBytes(&rng, count: 1 << 20) }  // one 1 MiB value
        switch rng.next(below: 100) {
        case 0..<10: return []
        case 10..<70: return randomBytes(&rng, count: Int(rng.next(below: 64)))
        case 70..<95: return randomBytes(&rng, count: 100 + Int(rng.next(below: 900)))
        default: return randomBytes(&rng, count: 4000 + Int(rng.next(below: 66_000)))
        }
    }

    private func randomBytes(_ rng: inout SeededRandom, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = rng.next()
            for _ in 0..<8 where i < count {
                bytes[i] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                i += 1
            }
        }
        return bytes
    }

    private func describe(_ value: [UInt8]?) -> String {
        guard let value else { return "absent" }
        return "\(value.count) bytes \(value.debugText.prefix(40))"
    }

    private func summarize(_ pairs: [KeyValuePair]) -> String {
        "\(pairs.count) records [" + pairs.prefix(5).map { "\($0.key.debugText.prefix(20)):\($0.value.count)B" }.joined(separator: ", ") + (pairs.count > 5 ? ", ..." : "") + "]"
    }
}
