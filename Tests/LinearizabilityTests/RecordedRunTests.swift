// Histories recorded by the real driver: correct engines pass, a stale-reading engine is caught.

import Driver
import Foundation
import History
import KVCore
import KVEngines
import Linearizability
import Measurement
import Synchronization
import Testing
import Workload

/// An engine wrapper that serves every `staleEvery`-th read from a copy of the data taken at
/// most `refreshEvery` writes ago: the kind of bug (a lagging replica, a stale cache) a
/// linearizability checker exists to catch.
final class StaleReadEngine: KeyValueEngine, @unchecked Sendable {
    let inner: any KeyValueEngine
    let staleEvery: Int
    let refreshEvery: Int
    private let state = Mutex<(copy: [[UInt8]: [UInt8]], reads: Int, writes: Int)>(([:], 0, 0))

    init(_ inner: any KeyValueEngine, staleEvery: Int = 3, refreshEvery: Int = 50) {
        self.inner = inner
        self.staleEvery = staleEvery
        self.refreshEvery = refreshEvery
    }

    var name: String { "stale(\(inner.name))" }
    var capabilities: EngineCapabilities { inner.capabilities }
    var count: Int? { inner.count }

    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        let stale: [UInt8]?? = state.withLock { s in
            s.reads += 1
            return s.reads % staleEvery == 0 ? .some(s.copy[Array(key)]) : .none
        }
        if let stale {
            guard let stale else { return nil }
            return stale.withUnsafeBytes { body($0) }
        }
        return try inner.get(key, body)
    }

    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try inner.put(key, value, options: options)
        state.withLock { s in
            s.writes += 1
            // The copy catches up only now and then (and always for a key it has never seen).
            if s.writes % refreshEvery == 0 || s.copy[Array(key)] == nil { s.copy[Array(key)] = Array(value) }
        }
    }

    func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        try inner.delete(key, options: options)
    }

    func scan(from start: UnsafeRawBufferPointer, limit: Int,
              _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try inner.scan(from: start, limit: limit, visit)
    }

    func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) { try inner.write(batch, options: options) }
    func flush() throws(EngineError) { try inner.flush() }
    func close() throws(EngineError) { try inner.close() }
    func checkInvariants() throws(EngineError) { try inner.checkInvariants() }
}

/// Loads and runs a small, colliding workload (10 records, 4 threads) on `engine`,
/// recording both phases into one history.
func recordRun(on engine: any KeyValueEngine, operations: Int = 4000, extra: [String] = []) throws -> History {
    let overrides = ["recordcount=10", "operationcount=\(operations)", "threadcount=4", "readproportion=0.5",
                     "updateproportion=0.4", "readmodifywriteproportion=0.1", "requestdistribution=uniform",
                     "fieldcount=2", "fieldlength=8"] + extra
    let configuration = try CoreWorkloadConfiguration.load(files: [], overrides: overrides)
    let target = InProcessTarget(engine: engine)
    func meta(_ phase: RunMetadata.Phase) -> RunMetadata {
        RunMetadata(kvlabVersion: "test", engine: engine.name, threads: 4, startTime: Date(), machineCores: 2, phase: phase)
    }
    var load = DriverConfiguration(phase: .load, workload: configuration)
    load.recordsHistory = true
    let loaded = try Driver(workload: try CoreWorkload(configuration: configuration), target: target, configuration: load)
        .run(metadata: meta(.load))
    var run = DriverConfiguration(phase: .run, workload: configuration)
    run.recordsHistory = true
    run.historyFirstProcess = load.threads
    let ran = try Driver(workload: try CoreWorkload(configuration: configuration), target: target, configuration: run)
        .run(metadata: meta(.run))
    return HistoryRecorder.history(merging: loaded.historyRecorders + ran.historyRecorders)
}

@Suite("Recorded runs")
struct RecordedRunTests {
    @Test("histories of the real engines under 4 threads on 10 keys are linearizable", arguments: ["hash", "skiplist"])
    func realEnginesPass(engineName: String) throws {
        let engine = try StandardEngines.registry.open(engineName)
        defer { try? engine.close() }
        let history = try recordRun(on: engine)
        let operations = try history.operations()
        #expect(operations.count == 10 + 4000 + 400, "every operation recorded; read-modify-write as two")
        #expect(Set(operations.map(\.process)).count >= 4)
        #expect(operations.contains { $0.function == "read" } && operations.contains { $0.function == "write" })
        let result = try check(history, model: KeyValueModel(), options: CheckOptions(timeout: .seconds(60)))
        #expect(result.verdict == .linearizable, "\(result.textReport())")
        #expect(result.partitions.count == 10)
    }

    @Test("an engine that serves some reads from a stale copy is flagged, with a counterexample")
    func staleEngineCaught() throws {
        let engine = StaleReadEngine(try StandardEngines.registry.open("hash"))
        let history = try recordRun(on: engine)
        let result = try check(history, model: KeyValueModel(), options: CheckOptions(timeout: .seconds(60)))
        #expect(result.verdict == .violation)
        let bad = result.partitions(.violation)
        #expect(!bad.isEmpty)
        for part in bad {
            #expect(!part.counterexample.isEmpty)
            #expect(part.counterexample.contains { result.operations[$0].function == "read" })
        }
    }

    @Test("the JSON Lines file of a recorded run reads back to the same operations")
    func jsonLinesRoundTrip() throws {
        let engine = try StandardEngines.registry.open("hash")
        let history = try recordRun(on: engine, operations: 500)
        let reread = try JSONLinesFormat.read(JSONLinesFormat.write(history))
        #expect(try reread.operations().map(\.description) == history.operations().map(\.description))
        #expect(try check(reread, model: KeyValueModel()).verdict == .linearizable)
    }
}
