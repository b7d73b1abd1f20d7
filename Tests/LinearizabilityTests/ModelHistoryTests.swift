// Hand-built histories for every model, including the tricky cases.

import History
import Linearizability
import Testing

@Suite("Hand-built histories")
struct ModelHistoryTests {
    // MARK: register

    @Test("concurrent writes with reads in between may be seen in either order, but not both")
    func concurrentWrites() throws {
        var b = HistoryBuilder()
        b.call(0, "write", 1)
        b.call(1, "write", 2)
        b.op(2, "read", .null, 2)        // during both writes: 2 took effect first
        b.ok(0, "write", 1)
        b.ok(1, "write", 2)
        b.op(2, "read", .null, 1)        // then 1: order 2, 1
        #expect(try check(b.history, model: RegisterModel()).verdict == .linearizable)
        b.op(3, "read", .null, 2)        // 2 again, with no write in flight: impossible
        let result = try check(b.history, model: RegisterModel())
        #expect(result.verdict == .violation)
        let part = try #require(result.partitions.first)
        // After "read 1" the register holds 1, and nothing writes 2 again.
        #expect(part.counterexample.map { result.operations[$0].description } == ["p3 read -> 2"])
        #expect(part.counterexampleStartStates == ["1"])
    }

    @Test("a stale read after a completed write is a violation: the read, from the state the write left")
    func staleRead() throws {
        var b = HistoryBuilder()
        b.op(0, "write", 1)
        b.op(0, "write", 2)
        b.op(1, "read", .null, 1)
        let result = try check(b.history, model: RegisterModel())
        #expect(result.verdict == .violation)
        let part = try #require(result.partitions.first)
        #expect(part.counterexample.map { result.operations[$0].description } == ["p1 read -> 1"])
        #expect(part.counterexampleStartPosition == 3)
        #expect(part.counterexampleStartStates == ["2"])
        #expect(part.counterexampleIsMinimal)
        #expect(part.longestLinearizablePrefix.count == 2)
        #expect(part.stalledAt == 2)
        #expect(result.textReport().contains("cannot be linearized"))
    }

    @Test("an indeterminate write must be assumed to have happened when a later read sees it")
    func indeterminateWriteHappened() throws {
        var b = HistoryBuilder()
        b.op(0, "write", 1)
        b.call(1, "write", 2)
        b.info(1, "write", 2)
        b.op(2, "read", .null, 2)
        b.op(2, "read", .null, 2)
        let result = try check(b.history, model: RegisterModel())
        #expect(result.verdict == .linearizable)
        #expect(result.partitions[0].linearization.contains(1))
    }

    @Test("an indeterminate write must not be assumed when reads never see it, and cannot act before its invocation")
    func indeterminateWriteNotHappened() throws {
        var b = HistoryBuilder()
        b.op(0, "write", 1)
        b.call(1, "write", 2)
        b.info(1, "write", 2)
        b.op(2, "read", .null, 1)
        #expect(try check(b.history, model: RegisterModel()).verdict == .linearizable)
        // If the search let it take effect at all, then only after the read.
        let order = try check(b.history, model: RegisterModel()).partitions[0].linearization
        if let write = order.firstIndex(of: 1) { #expect(write > order.firstIndex(of: 2)!) }

        var early = HistoryBuilder()
        early.op(2, "read", .null, 2)      // sees 2 before anyone wrote it
        early.call(1, "write", 2)
        early.info(1, "write", 2)
        #expect(try check(early.history, model: RegisterModel()).verdict == .violation)

        // Seen, then unseen: it happened, so it cannot un-happen.
        var flip = HistoryBuilder()
        flip.op(0, "write", 1)
        flip.call(1, "write", 2)
        flip.info(1, "write", 2)
        flip.op(2, "read", .null, 2)
        flip.op(2, "read", .null, 1)
        #expect(try check(flip.history, model: RegisterModel()).verdict == .violation)
    }

    @Test("a history that is linearizable only by reordering overlapping operations")
    func reorderingNeeded() throws {
        var b = HistoryBuilder()
        b.call(0, "write", 1)             // invoked first ...
        b.call(1, "write", 2)
        b.ok(1, "write", 2)
        b.call(2, "read")
        b.ok(0, "write", 1)               // ... but took effect after write 2
        b.ok(2, "read", 1)
        b.op(2, "read", .null, 1)
        let result = try check(b.history, model: RegisterModel())
        #expect(result.verdict == .linearizable)
        #expect(result.partitions[0].linearization.map { result.operations[$0].description }
            == ["p1 write 2", "p0 write 1", "p2 read -> 1", "p2 read -> 1"])
    }

    @Test("the empty history is linearizable")
    func empty() throws {
        let result = try check(History(), model: KeyValueModel())
        #expect(result.verdict == .linearizable)
        #expect(result.partitions.isEmpty)
    }

    // MARK: cas-register

    @Test("a cas succeeds only on its expected value; a failed cas did not happen")
    func cas() throws {
        var b = HistoryBuilder()
        b.op(0, "write", 0)
        b.call(1, "cas", pair(1, 2))
        b.fail(1, "cas", pair(1, 2))
        b.op(1, "cas", pair(0, 3))
        b.op(2, "read", .null, 3)
        #expect(try check(b.history, model: CASRegisterModel()).verdict == .linearizable)
        var bad = HistoryBuilder()
        bad.op(0, "write", 0)
        bad.op(1, "cas", pair(1, 2))       // acknowledged, but the value was 0
        #expect(try check(bad.history, model: CASRegisterModel()).verdict == .violation)
        var indeterminate = HistoryBuilder()
        indeterminate.op(0, "write", 0)
        indeterminate.call(1, "cas", pair(0, 5))
        indeterminate.info(1, "cas", pair(0, 5))
        indeterminate.op(2, "read", .null, 5)
        #expect(try check(indeterminate.history, model: CASRegisterModel()).verdict == .linearizable)
    }

    // MARK: key-value

    @Test("a key-value history is checked per key: one bad key, the others fine")
    func keyValuePerKey() throws {
        var b = HistoryBuilder()
        b.op(0, "write", .string("a1"), key: .string("a"))
        b.op(1, "write", .string("b1"), key: .string("b"))
        b.op(0, "append", .string("+"), key: .string("a"))
        b.op(1, "read", .null, .string("a1+"), key: .string("a"))
        b.op(1, "delete", key: .string("b"))
        b.op(0, "read", .null, .null, key: .string("b"))
        b.op(0, "read", .null, .string("c1"), key: .string("c"))    // nobody wrote c
        let result = try check(b.history, model: KeyValueModel())
        #expect(result.verdict == .violation)
        #expect(result.partitions.count == 3)
        let verdicts = Dictionary(uniqueKeysWithValues: result.partitions.map { ($0.key!, $0.verdict) })
        #expect(verdicts == [.string("a"): .linearizable, .string("b"): .linearizable, .string("c"): .violation])
    }

    @Test("a read of a missing key may return nil or the empty string (Porcupine's convention)")
    func missingKey() throws {
        var b = HistoryBuilder()
        b.op(0, "read", .null, .string(""), key: .string("k"))
        b.op(0, "read", .null, .null, key: .string("k"))
        b.op(0, "append", .string("x"), key: .string("k"))
        b.op(0, "read", .null, .string("x"), key: .string("k"))
        #expect(try check(b.history, model: KeyValueModel()).verdict == .linearizable)
    }

    // MARK: multi-register and mutex

    @Test("multi-register transactions are atomic: no read sees half of a transaction")
    func multiRegister() throws {
        let x = Value.keyword("x"), y = Value.keyword("y")
        func txn(_ micro: [(String, Value, Value)]) -> Value { .list(micro.map { .list([.keyword($0.0), $0.1, $0.2]) }) }
        var b = HistoryBuilder()
        b.op(0, "txn", txn([("write", x, 1), ("write", y, 1)]))
        b.call(1, "txn", txn([("read", x, .null), ("read", y, .null)]))
        b.ok(1, "txn", txn([("read", x, 1), ("read", y, 1)]))
        #expect(try check(b.history, model: MultiRegisterModel()).verdict == .linearizable)
        var torn = HistoryBuilder()
        torn.op(0, "txn", txn([("write", x, 1), ("write", y, 1)]))
        torn.call(1, "txn", txn([("read", x, .null), ("read", y, .null)]))
        torn.ok(1, "txn", txn([("read", x, 1), ("read", y, .null)]))
        #expect(try check(torn.history, model: MultiRegisterModel()).verdict == .violation)
    }

    @Test("a mutex cannot be held twice; overlapping acquires serialize through a release")
    func mutex() throws {
        var b = HistoryBuilder()
        b.op(0, "acquire")
        b.call(1, "acquire")
        b.op(0, "release")
        b.ok(1, "acquire")
        #expect(try check(b.history, model: MutexModel()).verdict == .linearizable)
        var twice = HistoryBuilder()
        twice.op(0, "acquire")
        twice.op(1, "acquire")
        #expect(try check(twice.history, model: MutexModel()).verdict == .violation)
    }

    @Test("an operation the model does not know is an error, not a verdict")
    func unknownOperation() throws {
        var b = HistoryBuilder()
        b.op(0, "acquire")
        #expect(throws: ModelError.self) { try check(b.history, model: RegisterModel()) }
    }

    // MARK: time limit and output

    @Test("a search that cannot finish in time stops with verdict unknown and how far it got")
    func timeLimit() throws {
        // 40 concurrent writes of distinct values and reads no order can satisfy: the search
        // would need to try a vast number of subsets.
        var b = HistoryBuilder()
        for p in 0..<40 { b.call(p, "write", .integer(Int64(p))) }
        for p in 40..<44 { b.call(p, "read") }
        for p in 40..<44 { b.ok(p, "read", .integer(1000 + Int64(p))) }
        for p in 0..<40 { b.ok(p, "write", .integer(Int64(p))) }
        let clock = ContinuousClock()
        let started = clock.now
        let result = try check(b.history, model: RegisterModel(), options: CheckOptions(timeout: .milliseconds(300)))
        #expect(clock.now - started < .seconds(5))
        #expect(result.verdict == .unknown)
        #expect(result.textReport().contains("timed out after linearizing 40 of 44 operations"))
        #expect(result.partitions[0].stalledAt == 40)
    }

    @Test("the HTML report is one self-contained page with a timeline per part and the counterexample in red")
    func html() throws {
        var b = HistoryBuilder()
        b.op(0, "write", .string("v1"), key: .string("k<1>"))
        b.op(0, "write", .string("v2"), key: .string("k<1>"))
        b.op(1, "read", .null, .string("v1"), key: .string("k<1>"))
        b.op(1, "write", .string("z"), key: .string("ok"))
        let html = try check(b.history, model: KeyValueModel()).htmlReport()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg"))
        #expect(html.contains("class=\"op bad\""))
        #expect(html.contains("k&lt;1&gt;"))
        #expect(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"))
    }
}
