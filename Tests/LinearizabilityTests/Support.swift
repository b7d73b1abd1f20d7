// Building histories in tests: a small event builder and a brute-force reference checker.

import Foundation
import History
@testable import Linearizability

/// Builds a history event by event: `b.call(0, "write", 1); b.ok(0, "write", 1)`.
struct HistoryBuilder {
    var events: [Event] = []

    mutating func call(_ process: Int, _ f: String, _ value: Value = .null, key: Value? = nil) {
        events.append(Event(.invoke, process: process, function: f, key: key, value: value))
    }
    mutating func ok(_ process: Int, _ f: String, _ value: Value = .null, key: Value? = nil) {
        events.append(Event(.ok, process: process, function: f, key: key, value: value))
    }
    mutating func info(_ process: Int, _ f: String, _ value: Value = .null, key: Value? = nil) {
        events.append(Event(.info, process: process, function: f, key: key, value: value))
    }
    mutating func fail(_ process: Int, _ f: String, _ value: Value = .null, key: Value? = nil) {
        events.append(Event(.fail, process: process, function: f, key: key, value: value))
    }
    /// A whole operation that does not overlap anything.
    mutating func op(_ process: Int, _ f: String, _ input: Value = .null, _ output: Value? = nil, key: Value? = nil) {
        call(process, f, input, key: key)
        ok(process, f, output ?? input, key: key)
    }

    var history: History { History(events: events) }
}

extension Value: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
}

func pair(_ a: Value, _ b: Value) -> Value { .list([a, b]) }

/// Tries every order of the operations that respects real time (an operation may go next
/// only if no remaining operation completed before it was invoked); unknown-outcome
/// operations may also be left out. No memoization: exponential, for small histories only.
func bruteForceLinearizable<M: Model>(_ operations: [HistoryOperation], model: M) throws -> Bool {
    let steps = try operations.map { try model.prepare($0) }
    var byPart: [Value?: [Int]] = [:]
    for op in operations { byPart[model.partition(op), default: []].append(op.id) }
    for (_, ids) in byPart {
        var used = Set<Int>()
        func explore(_ state: M.State) -> Bool {
            let remaining = ids.filter { !used.contains($0) }
            if remaining.allSatisfy({ operations[$0].outcome == .unknown }) { return true }
            let earliestReturn = remaining.compactMap { operations[$0].outcome == .ok ? operations[$0].returnPosition : nil }.min() ?? .max
            for id in remaining where operations[id].invokePosition < earliestReturn {
                let next: [M.State]
                switch model.step(state, steps[id]) {
                case .illegal: next = []
                case .next(let s): next = [s]
                case .choices(let options): next = options
                }
                used.insert(id)
                for s in next where explore(s) { used.remove(id); return true }
                used.remove(id)
            }
            return false
        }
        if !explore(model.initialState) { return false }
    }
    return true
}

/// The seed of a random test: `KVLAB_SEED` if set, else a fixed default (printed on failure).
func testSeed(_ fallback: UInt64) -> UInt64 {
    ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? fallback
}

/// The history generator's SplitMix64: one seeded generator for the library and its tests.
typealias SeededGenerator = SplitMix64
