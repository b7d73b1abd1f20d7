// The key-value model's fast search (commuting reads, inferred append order) against brute force
// on adversarial histories: empty appends and writes, duplicate values, deletes, reads of nil
// and "", and `info` operations.

import History
@testable import Linearizability
import Testing

/// A random small history on one key of a key-value map, with values drawn from a tiny
/// alphabet (so appends collide, and some are empty), and some `info` outcomes.
func adversarialKVHistory(_ rng: inout SeededGenerator, processes: Int, operations: Int) -> History {
    var events: [Event] = []
    var pending: [Int: Event] = [:]
    var done = 0
    let pieces = ["", "a", "b", "ab", "c"]
    let reads: [Value] = [.null, .string(""), .string("a"), .string("b"), .string("ab"), .string("ba"), .string("abc"), .string("c"), .string("ac")]
    while done < operations || !pending.isEmpty {
        let p = Int.random(in: 0..<processes, using: &rng)
        if let call = pending.removeValue(forKey: p) {
            let kind: Event.Kind = Int.random(in: 0..<8, using: &rng) == 0 ? .info : .ok
            var value = call.value
            if call.function == "read" && kind == .ok { value = reads.randomElement(using: &rng)! }
            events.append(Event(kind, process: p, function: call.function, key: .string("k"), value: value))
        } else if done < operations {
            let f = ["read", "read", "append", "append", "write", "delete"].randomElement(using: &rng)!
            let value: Value = switch f {
            case "append", "write": .string(pieces.randomElement(using: &rng)!)
            default: .null
            }
            let call = Event(.invoke, process: p, function: f, key: .string("k"), value: value)
            events.append(call)
            pending[p] = call
            done += 1
        }
    }
    return History(events: events)
}

@Suite("Adversarial key-value histories")
struct AdversarialKVTests {
    @Test("an empty append that completed before a read of nothing does not force the read first")
    func emptyAppendBeforeEmptyRead() throws {
        let history = History(events: [
            Event(.invoke, process: 0, function: "append", key: .string("k"), value: .string("")),
            Event(.ok, process: 0, function: "append", key: .string("k"), value: .string("")),
            Event(.invoke, process: 1, function: "read", key: .string("k")),
            Event(.ok, process: 1, function: "read", key: .string("k"), value: .null),
            Event(.invoke, process: 0, function: "append", key: .string("k"), value: .string("x")),
            Event(.ok, process: 0, function: "append", key: .string("k"), value: .string("x")),
        ])
        let operations = try history.operations()
        #expect(try bruteForceLinearizable(operations, model: KeyValueModel()))
        let result = try check(operations, model: KeyValueModel(), options: CheckOptions(parallelism: 1))
        #expect(result.verdict == .linearizable)
    }

    @Test("from a non-empty start state (a counterexample window) no append order is inferred")
    func noInferenceFromAnotherStartState() {
        // From "a", the read of "ab" may follow the append of "b"; it also splits uniquely as
        // the write of "ab", which must not be taken as an order.
        let steps: [KeyValueModel.Step] = [.write(.string("ab")), .append("b"), .read(.string("ab"))]
        #expect(KeyValueModel().inferredOrder(steps, initialState: .string("a")).isEmpty)
        #expect(!KeyValueModel().inferredOrder(steps, initialState: .null).isEmpty)
    }

    @Test("a time limit beyond the clock's range is no limit, not a trap")
    func hugeTimeout() throws {
        let history = History(events: [
            Event(.invoke, process: 0, function: "write", value: .integer(1)),
            Event(.ok, process: 0, function: "write", value: .integer(1)),
        ])
        for timeout in [Duration.seconds(Int64.max), .seconds(10_000_000_000)] {
            let result = try check(history, model: RegisterModel(), options: CheckOptions(timeout: timeout, parallelism: 1))
            #expect(result.verdict == .linearizable)
        }
    }

    @Test("the memory budget counts what interned states hold on the heap (the strings appends build)")
    func budgetCountsStateHeap() throws {
        var events: [Event] = []
        let padding = String(repeating: "x", count: 56)
        for i in 0..<1200 {
            let value = Value.string("\(i)-\(padding)")
            events.append(Event(.invoke, process: 0, function: "append", key: .string("k"), value: value))
            events.append(Event(.ok, process: 0, function: "append", key: .string("k"), value: value))
        }
        // 1,200 states averaging ~36 KB of string: ~43 MB, against a budget of 8 MiB.
        let result = try check(History(events: events), model: KeyValueModel(),
                               options: CheckOptions(timeout: nil, maximumMemory: 8 << 20, parallelism: 1))
        #expect(result.verdict == .unknown)
        #expect(result.partitions.first?.stopReason == .memoryBudget)
    }

    @Test("on 4000 adversarial small histories the checker agrees with brute force, with and without its techniques")
    func agreesWithBruteForce() throws {
        let seed = testSeed(0xAD7E)
        var rng = SeededGenerator(seed: seed)
        var counts: [Bool: Int] = [:]
        for round in 0..<4000 {
            let history = adversarialKVHistory(&rng, processes: Int.random(in: 2...4, using: &rng),
                                               operations: Int.random(in: 1...8, using: &rng))
            let operations = try history.operations()
            let expected = try bruteForceLinearizable(operations, model: KeyValueModel())
            for techniques in [SearchTechniques.all, []] {
                let result = try check(operations, model: KeyValueModel(),
                                       options: CheckOptions(timeout: nil, parallelism: 1, techniques: techniques))
                #expect(result.verdict == (expected ? .linearizable : .violation),
                        "seed \(seed) round \(round) techniques \(techniques.rawValue): brute force says \(expected)\n\(JSONLinesFormat.write(history))")
            }
            counts[expected, default: 0] += 1
        }
        #expect(counts[true, default: 0] > 400 && counts[false, default: 0] > 400, "\(counts)")
    }
}
