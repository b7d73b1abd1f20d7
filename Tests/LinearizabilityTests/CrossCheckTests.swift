// The checker against a brute-force search over every order, on thousands of random histories.

import History
@testable import Linearizability
import Testing

/// A random small history: `processes` clients each doing a few operations on one register
/// (or cas-register), with random overlaps, values from a small set (so reads can match
/// several writes) and some indeterminate outcomes.
func randomHistory(_ rng: inout SeededGenerator, processes: Int, operations: Int, withCAS: Bool) -> History {
    var events: [Event] = []
    var pending: [Int: Event] = [:]
    var done = 0
    while done < operations || !pending.isEmpty {
        let p = Int.random(in: 0..<processes, using: &rng)
        if let call = pending.removeValue(forKey: p) {
            let roll = Int.random(in: 0..<10, using: &rng)
            var value = call.value
            if call.function == "read" { value = Bool.random(using: &rng) ? .null : .integer(Int64.random(in: 0..<3, using: &rng)) }
            let kind: Event.Kind = roll == 0 ? .info : (roll == 1 && call.function == "cas") ? .fail : .ok
            events.append(Event(kind, process: p, function: call.function, value: kind == .ok ? value : call.value))
        } else if done < operations {
            let f = withCAS ? ["read", "write", "cas"].randomElement(using: &rng)! : ["read", "write"].randomElement(using: &rng)!
            let value: Value = switch f {
            case "write": .integer(Int64.random(in: 0..<3, using: &rng))
            case "cas": .list([.integer(Int64.random(in: 0..<3, using: &rng)), .integer(Int64.random(in: 0..<3, using: &rng))])
            default: .null
            }
            let call = Event(.invoke, process: p, function: f, value: value)
            events.append(call)
            pending[p] = call
            done += 1
        }
    }
    return History(events: events)
}

@Suite("Cross-check")
struct CrossCheckTests {
    @Test("on 4000 random small histories the checker agrees with brute force, and every counterexample is illegal on its own")
    func agreesWithBruteForce() throws {
        let seed = testSeed(0xC0FFEE)
        var rng = SeededGenerator(seed: seed)
        var violations = 0, linearizable = 0
        for round in 0..<4000 {
            let withCAS = round % 2 == 1
            let history = randomHistory(&rng, processes: Int.random(in: 2...4, using: &rng),
                                        operations: Int.random(in: 1...8, using: &rng), withCAS: withCAS)
            let operations = try history.operations()
            let model = CASRegisterModel()
            let expected = try bruteForceLinearizable(operations, model: model)
            let result = try check(operations, model: model, options: CheckOptions(parallelism: 1))
            #expect(result.verdict == (expected ? .linearizable : .violation),
                    "seed \(seed) round \(round): brute force says \(expected)\n\(JepsenEDNFormat.write(history))")
            if result.verdict == .violation {
                violations += 1
                // The counterexample alone (others left out) is not linearizable either, from
                // any state it says it starts from.
                let part = result.partitions[0]
                let subset = part.counterexample.map { id -> HistoryOperation in operations[id] }
                    .enumerated().map { i, op -> HistoryOperation in var copy = op; copy.id = i; return copy }
                var starts: [Value] = [.null]
                if part.counterexampleStartPosition != nil {
                    starts = try part.counterexampleStartStates.map { text in
                        var reader = EDNReader(text)
                        return try reader.readAll()[0]
                    }
                }
                for start in starts {
                    #expect(try !bruteForceLinearizable(subset, model: CASRegisterModel(initialValue: start)),
                            "seed \(seed) round \(round): counterexample \(subset) is linearizable from \(start)")
                }
            } else {
                linearizable += 1
            }
        }
        // Both verdicts are well represented, or the test proves little.
        #expect(violations > 400 && linearizable > 400, "violations \(violations), linearizable \(linearizable)")
    }
}

/// A random small key-value history over two keys, with appends, deletes and indeterminate
/// outcomes, so partitioning and `info` are cross-checked too.
func randomKeyValueHistory(_ rng: inout SeededGenerator, processes: Int, operations: Int) -> History {
    var events: [Event] = []
    var pending: [Int: Event] = [:]
    var done = 0
    let values: [Value] = [.null, .string("a"), .string("b"), .string("ab"), .string("ba")]
    while done < operations || !pending.isEmpty {
        let p = Int.random(in: 0..<processes, using: &rng)
        if let call = pending.removeValue(forKey: p) {
            let kind: Event.Kind = Int.random(in: 0..<8, using: &rng) == 0 ? .info : .ok
            let value = call.function == "read" && kind == .ok ? values.randomElement(using: &rng)! : call.value
            events.append(Event(kind, process: p, function: call.function, key: call.key, value: value))
        } else if done < operations {
            let f = ["read", "read", "write", "append", "delete"].randomElement(using: &rng)!
            let value: Value = switch f {
            case "write", "append": [Value.string("a"), .string("b")].randomElement(using: &rng)!
            default: .null
            }
            let call = Event(.invoke, process: p, function: f, key: .string(Bool.random(using: &rng) ? "x" : "y"), value: value)
            events.append(call)
            pending[p] = call
            done += 1
        }
    }
    return History(events: events)
}

@Suite("Cross-check, key-value")
struct KeyValueCrossCheckTests {
    @Test("on 2000 random two-key histories with appends, deletes and info, per-key checking agrees with brute force")
    func agreesWithBruteForce() throws {
        let seed = testSeed(0xBEEF)
        var rng = SeededGenerator(seed: seed)
        var violations = 0
        for round in 0..<2000 {
            let history = randomKeyValueHistory(&rng, processes: Int.random(in: 2...4, using: &rng),
                                                operations: Int.random(in: 1...9, using: &rng))
            let operations = try history.operations()
            let expected = try bruteForceLinearizable(operations, model: KeyValueModel())
            let result = try check(operations, model: KeyValueModel())
            #expect(result.verdict == (expected ? .linearizable : .violation),
                    "seed \(seed) round \(round): brute force says \(expected)\n\(JSONLinesFormat.write(history))")
            if result.verdict == .violation { violations += 1 }
        }
        #expect(violations > 200, "only \(violations) violations: the generator proves little")
    }
}
