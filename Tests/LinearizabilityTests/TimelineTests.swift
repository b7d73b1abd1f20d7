// The HTML timeline: the window a reader needs, real time when there is one, plain words, bounded size.

import Foundation
import History
@testable import Linearizability
import Testing

@Suite("HTML timeline")
struct TimelineTests {
    /// One key, 40 filler operations by p5 long before, then: p1 writes 3, p2 writes 4 (after
    /// p1's write completed), p3 reads 3 after p2's write completed: a stale read. Times in ns.
    static func staleRead(times: Bool) -> History {
        var events: [Event] = []
        var t: Int64 = 1_000
        func add(_ kind: Event.Kind, _ p: Int, _ f: String, _ v: Value) {
            events.append(Event(kind, process: p, function: f, key: .string("k"), value: v, time: times ? t : nil))
            t += 1_000
        }
        for i in 0..<20 {
            add(.invoke, 5, "write", .integer(100 + Int64(i)))
            add(.ok, 5, "write", .integer(100 + Int64(i)))
            add(.invoke, 6, "read", .null)
            add(.ok, 6, "read", .integer(100 + Int64(i)))
        }
        t += 50_000_000                      // a long idle stretch
        add(.invoke, 1, "write", 3)
        add(.ok, 1, "write", 3)
        add(.invoke, 2, "write", 4)
        add(.invoke, 4, "read", .null)       // p4's read overlaps p2's write: sees 4
        add(.ok, 2, "write", 4)
        add(.ok, 4, "read", 4)
        add(.invoke, 3, "read", .null)
        add(.ok, 3, "read", 3)
        return History(events: events)
    }

    @Test("a stale read's timeline draws the writes involved, marks the impossible read, and explains it in plain words")
    func staleReadTimeline() throws {
        let result = try check(Self.staleRead(times: true), model: KeyValueModel())
        #expect(result.verdict == .violation)
        let part = result.partitions[0]
        let read = try #require(part.stalledAt)
        #expect(result.operations[read].process == 3)
        let html = result.htmlReport(maximumOperationsPerPart: 20)
        #expect(html.contains("p3's read of k (op #\(read)) returned 3."))
        #expect(html.contains("The last writes that could precede it wrote 4 (p2, op #41)"))
        #expect(html.contains("3 was written by p1 (op #40), but that write completed before p2 (op #41) began writing 4"))
        // The window: both writes (outlined as involved), the read marked impossible and crossed.
        #expect(html.contains("class=\"op involved\""))
        #expect(html.contains("class=\"op bad impossible\""))
        #expect(html.contains("class=cross"))
        #expect(html.contains(">#40 w 3<") && html.contains(">#41 w 4<"))
        // Real time with the idle stretch cut out, a linearization line with its numbers, a legend.
        #expect(html.contains(">time<"))
        #expect(html.contains("⋯ 50"))
        #expect(html.contains("<polyline class=lin"))
        #expect(html.contains("class=order"))
        #expect(html.contains("cannot be placed"))
        // Elided operations are counted, and nothing is fetched from anywhere.
        #expect(html.contains("of \(part.operations.count) operations of this part"))
        #expect(!html.contains("src=") && !html.contains("href=") && !html.contains("<script"))
        // One lane per process drawn.
        for p in [1, 2, 3, 4] { #expect(html.contains(">p\(p)</text>")) }
    }

    @Test("without clock times the timeline is in event order")
    func eventOrder() throws {
        let result = try check(Self.staleRead(times: false), model: KeyValueModel())
        let html = result.htmlReport(maximumOperationsPerPart: 20)
        #expect(html.contains(">event order<"))
        #expect(!html.contains(">time<"))
        #expect(html.contains("class=\"op bad impossible\""))
    }

    @Test("a read of a value never written says so; a linearizable part says all operations fit")
    func neverWritten() throws {
        var b = HistoryBuilder()
        b.op(0, "write", 1, key: .string("a"))
        b.op(1, "read", .null, 9, key: .string("a"))
        b.op(0, "write", 2, key: .string("b"))
        // Every key checked: stopping at the first violation, key b may be "not checked".
        let result = try check(b.history, model: KeyValueModel(), options: CheckOptions(stopAtFirstViolation: false))
        let html = result.htmlReport()
        #expect(html.contains("No operation wrote 9: the value was never written."))
        #expect(html.contains("All 1 operations fit one order"))
        #expect(result.textReport().contains("No operation wrote 9"))
    }

    /// A result as large as a 100,000-operation history can make it: every operation in the
    /// counterexample and the linearization, long values, times.
    static func hugeResult(parts: Int, operationsPerPart: Int) -> CheckResult {
        var operations: [HistoryOperation] = []
        var partitions: [PartitionResult] = []
        let value = Value.string(String(repeating: "x", count: 200))
        for p in 0..<parts {
            var ids: [Int] = []
            for i in 0..<operationsPerPart {
                let id = operations.count
                let position = 2 * id
                operations.append(HistoryOperation(id: id, process: i % 50, function: i % 2 == 0 ? "write" : "read",
                                                   key: .string("key\(p)"), input: value, output: value,
                                                   invokePosition: position, returnPosition: position + 1,
                                                   invokeTime: Int64(position) * 1000, returnTime: Int64(position) * 1000 + 500))
                ids.append(id)
            }
            partitions.append(PartitionResult(key: .string("key\(p)"), verdict: .violation, operations: ids, linearization: ids,
                                              counterexample: ids, counterexampleIsMinimal: false,
                                              longestLinearizablePrefix: ids, counterexampleStartPosition: nil,
                                              counterexampleStartStates: [], stalledAt: ids.last, stopReason: nil, steps: 0, configurations: 0,
                                              peakSearchBytes: 0, elapsed: .zero))
        }
        return CheckResult(model: "kv", verdict: .violation, operations: operations, partitions: partitions, elapsed: .zero)
    }

    @Test("the page stays under 10 MB for 100,000 operations, in one part or in a thousand, and says what it left out")
    func boundedSize() {
        for (parts, each) in [(1, 100_000), (1_000, 100)] {
            let html = Self.hugeResult(parts: parts, operationsPerPart: each).htmlReport()
            print("timeline page for \(parts) part(s) of \(each) operations: \(html.utf8.count) bytes")
            #expect(html.utf8.count < 10_000_000)
            #expect(html.contains("Drawn: 80 of \(each) operations"))
            if parts > 50 { #expect(html.contains("more parts not drawn")) }
        }
    }
}

@Suite("Plain explanations")
struct PlainExplanationTests {
    @Test("appends build a read's value from several operations: the explanation does not claim the value was never written")
    func appendsGetTheGeneralExplanation() throws {
        var b = HistoryBuilder()
        b.op(0, "append", .string("x "), key: .string("k"))
        b.op(1, "append", .string("y "), key: .string("k"))
        b.op(2, "read", .null, .string("y x "), key: .string("k"))
        let result = try check(b.history, model: KeyValueModel())
        #expect(result.verdict == .violation)
        let sentences = result.plainExplanation(result.partitions[0]).sentences
        #expect(!sentences.joined().contains("never written"))
        #expect(sentences.first?.contains("no order of the operations before it allows it") == true)
    }

    @Test("a read from the future: the only write of the value began after the read completed")
    func readFromTheFuture() throws {
        var b = HistoryBuilder()
        b.op(0, "write", 1)
        b.op(1, "read", .null, 2)
        b.op(0, "write", 2)
        let result = try check(b.history, model: RegisterModel())
        let sentences = result.plainExplanation(result.partitions[0]).sentences
        #expect(sentences.contains("2 was written only by p0 (op #2), which began after the read had completed: a read from the future."))
    }
}
