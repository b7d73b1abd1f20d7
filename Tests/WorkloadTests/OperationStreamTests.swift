// The operation stream: mix, load-phase keys, key choice bounded by acknowledgements.

import Dispatch
import KVCore
import Synchronization
import Testing
@testable import Workload

@Suite("Operation stream")
struct OperationStreamTests {
    @Test("the operation mix is within 1% of the proportions over 100k operations",
          arguments: ["workloada", "workloadb", "workloadc", "workloadd", "workloade", "workloadf"])
    func mix(_ name: String) throws {
        var c = try CoreWorkloadConfiguration.load(files: [workloadsDirectory + "/" + name])
        c.seed = testSeed(c.seed)
        try checkMix(c)
    }

    @Test("deletes and unnormalised weights mix as their share of the sum")
    func mixWithDeletes() throws {
        let c = try configuration("recordcount=1000\nreadproportion=0.4\nupdateproportion=0.4\ndeleteproportion=0.2\nscanproportion=0.2\nrequestdistribution=uniform")
        try checkMix(c)
    }

    func checkMix(_ c: CoreWorkloadConfiguration) throws {
        let workload = try CoreWorkload(configuration: c)
        var thread = workload.makeThread(index: 0)
        var counts: [OperationKind: Int] = [:]
        let n = 100_000
        for _ in 0..<n {
            let op = thread.nextTransactionOperation()
            counts[op.kind, default: 0] += 1
            #expect(op.keyNumber <= workload.acknowledgedCounter.limit || op.kind == .insert)
            if op.kind == .insert { try thread.acknowledgeInsert(op.keyNumber) }
        }
        let sum = c.proportionSum
        let expected: [OperationKind: Double] = [
            .read: c.readProportion, .update: c.updateProportion, .insert: c.insertProportion,
            .scan: c.scanProportion, .readModifyWrite: c.readModifyWriteProportion, .delete: c.deleteProportion,
        ]
        for (kind, p) in expected {
            let observed = Double(counts[kind, default: 0]) / Double(n)
            #expect(abs(observed - p / sum) < 0.01, "\(kind.seriesName): \(observed) vs \(p / sum)")
        }
    }

    @Test("planned operations carry keys, fields and values as the configuration says")
    func operationContents() throws {
        let c = try configuration("recordcount=100\nreadallfields=false\nreadproportion=0.25\nupdateproportion=0.25\nscanproportion=0.25\nreadmodifywriteproportion=0.25\nmaxscanlength=10\nrequestdistribution=uniform")
        let workload = try CoreWorkload(configuration: c)
        var thread = workload.makeThread(index: 3)
        for _ in 0..<2000 {
            let op = thread.nextTransactionOperation()
            #expect(op.keyString == workload.keyNamer.name(op.keyNumber))
            #expect((0..<100).contains(op.keyNumber))
            switch op.kind {
            case .read:
                guard case .one(let f) = op.readFields else { Issue.record("read asks for one field"); continue }
                #expect((0..<10).contains(f) && op.writeFields.isEmpty)
            case .update, .readModifyWrite:
                #expect(op.writeFields.count == 1)
                let v = op.value(ofField: op.writeFields.lowerBound)
                #expect(v.count == 100 && v.allSatisfy { (0x21...0x60).contains($0) })
                if op.kind == .readModifyWrite, case .one = op.readFields {} else if op.kind == .readModifyWrite { Issue.record("rmw reads one field") }
            case .scan:
                #expect((1...10).contains(op.scanLength))
            default:
                Issue.record("unexpected \(op.kind)")
            }
        }
        let all = try CoreWorkload(configuration: configuration("recordcount=10\nreadproportion=0.5\nupdateproportion=0.5\nwriteallfields=true\nreadallfieldsbyname=true"))
        var t = all.makeThread(index: 0)
        for _ in 0..<100 {
            let op = t.nextTransactionOperation()
            if op.kind == .read { #expect(op.readFields == .allByName) } else { #expect(op.writeFields == 0..<10) }
        }
        #expect(OperationKind.allCases.map(\.seriesName) == ["READ", "UPDATE", "INSERT", "SCAN", "READ-MODIFY-WRITE", "DELETE"])
    }

    @Test("the load phase inserts every key from insertstart exactly once across threads")
    func loadPhase() throws {
        let c = try configuration("recordcount=1000\ninsertstart=100\ninsertcount=500\ninsertorder=ordered\nzeropadding=6")
        let workload = try CoreWorkload(configuration: c)
        let seen = Mutex<[Int64]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            var thread = workload.makeThread(index: i)
            var mine: [Int64] = []
            while let op = thread.nextLoadOperation() {
                #expect(op.kind == .insert && op.writeFields == 0..<10)
                #expect(op.keyString == "user" + String(repeating: "0", count: 6 - String(op.keyNumber).count) + String(op.keyNumber))
                mine.append(op.keyNumber)
            }
            seen.withLock { $0.append(contentsOf: mine) }
        }
        #expect(seen.withLock { $0.sorted() } == Array(100..<600))
        #expect(workload.loadInsertsIssued == 500)
    }

    @Test("threads with the same seed and index replay the same stream; other indices differ")
    func reproducible() throws {
        let c = try CoreWorkloadConfiguration.load(files: [workloadsDirectory + "/workloada"])
        func stream(_ index: Int) throws -> [Int64] {
            var t = try CoreWorkload(configuration: c).makeThread(index: index)
            return (0..<100).map { _ in let op = t.nextTransactionOperation(); return op.keyNumber * 8 + Int64(op.kind.rawValue) }
        }
        #expect(try stream(0) == stream(0))
        #expect(try stream(0) != stream(1))
    }

    @Test("latest makes the most recently acknowledged key the most popular")
    func latest() throws {
        var c = try configuration("recordcount=1000\nrequestdistribution=latest\nreadproportion=0.95\ninsertproportion=0.05")
        c.seed = testSeed(c.seed)
        let workload = try CoreWorkload(configuration: c)
        var thread = workload.makeThread(index: 0)
        func mostPopular(_ thread: inout WorkloadThread) -> Int64 {
            var counts: [Int64: Int] = [:]
            for _ in 0..<50_000 { counts[thread.nextKeyNumber(), default: 0] += 1 }
            #expect(counts.keys.allSatisfy { $0 <= workload.acknowledgedCounter.limit })
            return counts.max { $0.value < $1.value }!.key
        }
        #expect(mostPopular(&thread) == 999)
        // Ten inserts, acknowledged out of order, the last one withheld at first.
        let numbers = (0..<10).map { _ in workload.acknowledgedCounter.next() }
        #expect(numbers == Array(1000..<1010))
        for k in numbers.dropLast().reversed() { try workload.acknowledgeInsert(k) }
        #expect(mostPopular(&thread) == 1008)
        try workload.acknowledgeInsert(1009)
        #expect(mostPopular(&thread) == 1009)
    }

    @Test("keys above the acknowledged limit are never chosen while inserts are in flight")
    func boundedByAcknowledgements() throws {
        let c = try configuration("recordcount=100\noperationcount=100000\nrequestdistribution=zipfian\nreadproportion=0.5\ninsertproportion=0.5")
        let workload = try CoreWorkload(configuration: c)
        var thread = workload.makeThread(index: 0)
        var pending: [Int64] = []
        for i in 0..<20_000 {
            let op = thread.nextTransactionOperation()
            if op.kind == .insert { pending.append(op.keyNumber) } else {
                #expect(op.keyNumber <= workload.acknowledgedCounter.limit)
            }
            if i % 50 == 0 { for k in pending.reversed() { try thread.acknowledgeInsert(k) }; pending.removeAll() }
        }
        #expect(workload.acknowledgedCounter.limit > 5000)
    }

    @Test("sequential key choice is shared by all threads, hotspot and exponential stay bounded")
    func otherDistributions() throws {
        let s = try CoreWorkload(configuration: configuration("recordcount=10\nrequestdistribution=sequential"))
        var a = s.makeThread(index: 0), b = s.makeThread(index: 1)
        #expect([a.nextKeyNumber(), b.nextKeyNumber(), a.nextKeyNumber(), b.nextKeyNumber()] == [0, 1, 2, 3])
        for name in ["hotspot", "exponential", "uniform", "zipfian", "latest"] {
            let w = try CoreWorkload(configuration: configuration("recordcount=50\nrequestdistribution=\(name)"))
            var t = w.makeThread(index: 0)
            for _ in 0..<5000 { #expect((0..<50).contains(t.nextKeyNumber()), "\(name)") }
        }
    }

    @Test("operations split over threads as YCSB splits them, and threads are capped to the count")
    func split() throws {
        #expect((0..<3).map { CoreWorkloadConfiguration.operations(forThread: $0, of: 3, total: 10) } == [4, 3, 3])
        let c = try configuration("recordcount=100\nthreadcount=8")
        #expect(c.effectiveThreadCount(operations: 5) == 5)
        #expect(c.effectiveThreadCount(operations: 0) == 8)
        #expect(c.loadOperationCount == 100)
    }
}
