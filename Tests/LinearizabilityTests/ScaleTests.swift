// The checker at scale: the history generator, the memory budget, stopping early, and the search's techniques.

import History
@testable import Linearizability
import Testing

/// A generator of the shape, smaller so debug builds stay fast.
func smallGenerator(clients: Int = 12, keys: Int = 4, operations: Int = 300) -> HistoryGenerator {
    var generator = HistoryGenerator()
    generator.clients = clients
    generator.keys = keys
    generator.operations = operations
    return generator
}

@Suite("History generator")
struct HistoryGeneratorTests {
    @Test("the same options and seed give the same history; another seed another one")
    func deterministic() throws {
        let generator = smallGenerator()
        let a = generator.generate(seed: 7).history, b = generator.generate(seed: 7).history
        let c = generator.generate(seed: 8).history
        #expect(a.events == b.events)
        #expect(a.events != c.events)
    }

    @Test("a generated history has the asked shape: operations, clients, keys, the mix, unique appended values")
    func shape() throws {
        var generator = HistoryGenerator()
        generator.operations = 2000
        let history = generator.generate(seed: 3).history
        let operations = try history.operations()
        #expect(operations.count == 2000)
        #expect(Set(operations.map(\.process)).count == 50)
        #expect(Set(operations.compactMap(\.key)).count == 10)
        let reads = operations.filter { $0.function == "read" }.count
        let writes = operations.filter { $0.function == "write" }.count
        let appends = operations.filter { $0.function == "append" }
        // 45 / 5 / 50 %, within sampling noise of 2,000 draws.
        #expect((800...1000).contains(reads), "\(reads) reads")
        #expect((50...150).contains(writes), "\(writes) writes")
        #expect(Set(appends.map(\.input)).count == appends.count)
        // 50 clients busy 4/5 of the time: many operations overlap.
        let concurrent = operations.filter { op in
            operations.contains { $0.id != op.id && $0.invokePosition < op.returnPosition! && op.invokePosition < $0.returnPosition! }
        }.count
        #expect(concurrent > 1900)
    }

    @Test("generated histories are linearizable, and a planted phantom read makes each a violation")
    func verdicts() throws {
        let seed = testSeed(11)
        let generator = smallGenerator()
        for round in 0..<6 {
            let s = seed &+ UInt64(round)
            let ok = generator.generate(seed: s).history
            #expect(try check(ok, model: KeyValueModel()).verdict == .linearizable, "seed \(s)")
            let (bad, planted) = generator.generate(seed: s, mutation: .phantomRead)
            #expect(planted)
            let result = try check(bad, model: KeyValueModel())
            #expect(result.verdict == .violation, "seed \(s)")
            // The counterexample names the phantom read.
            let part = try #require(result.partitions(.violation).first)
            #expect(part.counterexample.contains { result.operations[$0].output.text?.contains("phantom") == true }, "seed \(s)")
        }
    }

    @Test("Porcupine's log format of a generated history reads back as the same operations")
    func porcupineRoundTrip() throws {
        let history = smallGenerator(operations: 100).generate(seed: 5).history
        let text = PorcupineKVFormat.write(history)
        #expect(text.contains(":f :get") && text.contains(":f :append"))
        let back = try PorcupineKVFormat.read(text).operations()
        let original = try history.operations()
        #expect(back.map(\.function) == original.map(\.function))
        #expect(back.map(\.output) == original.map(\.output))
        #expect(try check(back, model: KeyValueModel()).verdict == .linearizable)
    }
}

@Suite("Search limits")
struct SearchLimitTests {
    /// 40 concurrent writes of distinct values and reads no order satisfies: the search must
    /// explore a vast number of subsets.
    func hopeless() -> History {
        var b = HistoryBuilder()
        for p in 0..<40 { b.call(p, "write", .integer(Int64(p))) }
        for p in 40..<44 { b.call(p, "read") }
        for p in 40..<44 { b.ok(p, "read", .integer(1000 + Int64(p))) }
        for p in 0..<40 { b.ok(p, "write", .integer(Int64(p))) }
        return b.history
    }

    @Test("a history over a small memory budget gives unknown, with the reason and how far it got, not a crash")
    func memoryBudget() throws {
        let options = CheckOptions(timeout: nil, maximumMemory: 4 << 20, parallelism: 1)
        let result = try check(hopeless(), model: RegisterModel(), options: options)
        #expect(result.verdict == .unknown)
        let part = try #require(result.partitions.first)
        #expect(part.stopReason == .memoryBudget)
        #expect(!part.linearization.isEmpty)
        // The structures were counted up to the budget, and past it by at most one doubling
        // of an array (the check runs between growths).
        #expect(part.peakSearchBytes > 1 << 20 && part.peakSearchBytes <= 9 << 20, "\(part.peakSearchBytes)")
        #expect(result.textReport().contains("memory budget reached"))
    }

    @Test("the budget is counted from the search's structures, so a run reaches it at the same point every time")
    func budgetIsDeterministic() throws {
        let options = CheckOptions(timeout: nil, maximumMemory: 2 << 20, parallelism: 1)
        let a = try check(hopeless(), model: RegisterModel(), options: options).partitions[0]
        let b = try check(hopeless(), model: RegisterModel(), options: options).partitions[0]
        #expect(a.steps == b.steps && a.configurations == b.configurations && a.linearization == b.linearization)
    }

    @Test("once one key is a violation the keys after it are not checked, unless every key is asked for")
    func stopEarly() throws {
        var generator = smallGenerator(clients: 10, keys: 6, operations: 240)
        generator.readWeight = 60
        let (history, _) = generator.generate(seed: testSeed(21), mutation: .phantomRead)
        let operations = try history.operations()
        let early = try check(operations, model: KeyValueModel(), options: CheckOptions(parallelism: 1))
        #expect(early.verdict == .violation)
        #expect(early.partitions(.violation).count == 1)
        let notChecked = early.partitions.filter { $0.stopReason == .notChecked }
        // Parts go largest first; with one worker every part after the violation is skipped.
        #expect(early.partitions.allSatisfy { $0.verdict != .unknown || $0.stopReason == .notChecked })
        #expect(early.textReport().contains("not checked") == !notChecked.isEmpty)
        let all = try check(operations, model: KeyValueModel(), options: CheckOptions(stopAtFirstViolation: false, parallelism: 1))
        #expect(all.partitions.allSatisfy { $0.verdict != .unknown })
        #expect(all.partitions(.violation).count == 1)
        #expect(all.partitions(.linearizable).count == 5)
        // Whichever parts the early run did decide, it decided as the full run did.
        for part in early.partitions where part.verdict != .unknown {
            #expect(all.partitions.first { $0.key == part.key }?.verdict == part.verdict)
        }
    }

    @Test("with several workers, a violation stops the searches running in parallel too")
    func stopEarlyInParallel() throws {
        // One key is a violation found at once; the other holds the hopeless search, which
        // would run until the time limit if nothing stopped it.
        var b = HistoryBuilder()
        for p in 0..<40 { b.call(p, "write", .integer(Int64(p)), key: .string("slow")) }
        for p in 40..<44 { b.call(p, "read", key: .string("slow")) }
        for p in 40..<44 { b.ok(p, "read", .integer(1000 + Int64(p)), key: .string("slow")) }
        for p in 0..<40 { b.ok(p, "write", .integer(Int64(p)), key: .string("slow")) }
        b.op(50, "write", 1, key: .string("fast"))
        b.op(50, "read", .null, 2, key: .string("fast"))
        // Without inferred orders, which would see at once that no write makes 1040.
        let options = CheckOptions(timeout: .seconds(60), parallelism: 2, techniques: SearchTechniques.all.subtracting(.inferredOrder))
        let result = try check(b.history, model: KeyValueModel(), options: options)
        #expect(result.verdict == .violation)
        let slow = try #require(result.partitions.first { $0.key == .string("slow") })
        #expect(slow.verdict == .unknown && slow.stopReason == .notChecked)
    }

    @Test("every search technique turned off gives the same verdicts on generated histories")
    func techniquesKeepVerdicts() throws {
        let seed = testSeed(31)
        let variants: [SearchTechniques] = [.all, [], [.commutingReads], [.transitionMemo], [.frontierEncoding], [.inferredOrder]]
        var generator = smallGenerator(clients: 5, keys: 2, operations: 36)
        generator.infoProbability = 0.05
        var violations = 0
        for round in 0..<20 {
            let s = seed &+ UInt64(round)
            let mutation = HistoryGenerator.Mutation.allCases[round % 4]
            for history in [generator.generate(seed: s).history, generator.generate(seed: s, mutation: mutation).history] {
                let operations = try history.operations()
                let verdicts = try variants.map {
                    try check(operations, model: KeyValueModel(),
                              options: CheckOptions(minimizeCounterexample: false, stopAtFirstViolation: false,
                                                    parallelism: 1, techniques: $0)).verdict
                }
                #expect(Set(verdicts).count == 1, "seed \(s) \(mutation): \(verdicts)")
                if verdicts[0] == .violation { violations += 1 }
            }
        }
        #expect(violations >= 10, "only \(violations) violations")
    }
}

@Suite("Inferred orders")
struct InferredOrderTests {
    @Test("a read of unique appends orders them and itself; a read of an earlier state goes before the next append")
    func appendsRevealTheirOrder() {
        let model = KeyValueModel()
        let steps: [KeyValueModel.Step] = [.append("a1"), .append("b2"), .read(.string("a1b2")), .read(.string("a1")), .read(.null)]
        let order = model.inferredOrder(steps, initialState: .null).map { "\($0.before)<\($0.after)" }
        #expect(Set(order) == ["0<1", "1<2", "0<3", "3<1", "4<0", "4<1"])
    }

    @Test("a read of a value no write or append can make is impossible from the empty state, and only from it")
    func impossibleRead() {
        let model = KeyValueModel()
        let steps: [KeyValueModel.Step] = [.write(.string("w1")), .append("a1"), .read(.string("w1a1zz"))]
        #expect(model.inferredOrder(steps, initialState: .null).contains { $0 == (2, 2) })
        // From another state the value may be that state plus appends: nothing is inferred.
        #expect(!model.inferredOrder(steps, initialState: .string("zz")).contains { $0 == (2, 2) })
    }

    @Test("values that split in two ways, repeated values or deletes infer nothing unsafe")
    func ambiguousValuesInferNothing() {
        let model = KeyValueModel()
        // "ab" is one append or two: no order from that read.
        let ambiguous: [KeyValueModel.Step] = [.append("a"), .append("b"), .append("ab"), .read(.string("ab"))]
        #expect(model.inferredOrder(ambiguous, initialState: .null).isEmpty)
        // The same value appended twice: nothing at all.
        let repeated: [KeyValueModel.Step] = [.append("a"), .append("a"), .read(.string("aa"))]
        #expect(model.inferredOrder(repeated, initialState: .null).isEmpty)
        // With a delete, "" is not only the initial state: an empty read orders nothing.
        let deleted: [KeyValueModel.Step] = [.append("a"), .delete, .read(.null)]
        #expect(model.inferredOrder(deleted, initialState: .null).isEmpty)
    }
}
