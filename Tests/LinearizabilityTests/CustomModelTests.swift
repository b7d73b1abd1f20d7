// A model written outside the module: the protocol is enough, nondeterminism included.

import History
import Linearizability
import Testing

/// A counter whose `add` is at-least-once: a retried increment may land once or twice. A
/// nondeterministic model: `add` leads to either of two states.
struct AtLeastOnceCounter: Model {
    enum Step: Sendable { case add(Int64), read(Int64?) }

    var name: String { "at-least-once-counter" }
    var initialState: Int64 { 0 }

    func prepare(_ operation: HistoryOperation) throws(ModelError) -> Step {
        switch operation.function {
        case "add":
            guard let amount = operation.input.integer else { throw ModelError(model: name, operation: operation, expected: "an integer") }
            return .add(amount)
        case "read":
            return .read(operation.outcome == .ok ? operation.output.integer : nil)
        default:
            throw ModelError(model: name, operation: operation, expected: "add or read")
        }
    }

    func step(_ state: Int64, _ step: Step) -> Transition<Int64> {
        switch step {
        case .add(let amount): .choices([state + amount, state + 2 * amount])
        case .read(let seen): seen == nil || seen == state ? .next(state) : .illegal
        }
    }

    func partition(_ operation: HistoryOperation) -> Value? { nil }
}

@Suite("Custom models")
struct CustomModelTests {
    @Test("a nondeterministic model written outside the module is checked, counterexample included")
    func nondeterministic() throws {
        var b = HistoryBuilder()
        b.op(0, "add", 1)
        b.op(1, "add", 10)
        b.op(2, "read", .null, 21)        // 1 + 2 × 10: the second add landed twice
        #expect(try check(b.history, model: AtLeastOnceCounter()).verdict == .linearizable)
        b.op(2, "read", .null, 22)        // nothing can add 1 any more
        let result = try check(b.history, model: AtLeastOnceCounter())
        #expect(result.verdict == .violation)
        let part = try #require(result.partitions.first)
        #expect(part.counterexample.map { result.operations[$0].description } == ["p2 read -> 22"])
        #expect(part.counterexampleStartStates == ["21"])
        // 12 needs the first add to land twice (2 + 10): the search must try its second choice.
        var c = HistoryBuilder()
        c.op(0, "add", 1)
        c.op(0, "add", 10)
        c.op(1, "read", .null, 12)
        c.op(1, "read", .null, 12)
        #expect(try check(c.history, model: AtLeastOnceCounter()).verdict == .linearizable)
    }
}
