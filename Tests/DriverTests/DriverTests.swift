// The driver end to end on in-process engines: mixes, capabilities, warm-up, rate, verification.

import Driver
import Foundation
import KVCore
import KVEngines
import Measurement
import Testing
import Workload

/// The repository's `workloads/` folder.
let workloadsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("workloads")

func workloadConfiguration(_ file: String?, _ overrides: [String] = []) throws -> CoreWorkloadConfiguration {
    let files = file.map { [workloadsDirectory.appendingPathComponent($0).path] } ?? []
    return try CoreWorkloadConfiguration.load(files: files, overrides: overrides)
}

func metadata(_ phase: RunMetadata.Phase) -> RunMetadata {
    RunMetadata(kvlabVersion: "test", engine: "test", threads: 1, startTime: Date(), machineCores: 2, phase: phase)
}

/// Loads then runs `configuration` on `engine`, returning the run phase's outcome.
func loadAndRun(_ configuration: CoreWorkloadConfiguration, engine: any KeyValueEngine,
                onEvent: @escaping @Sendable (DriverEvent) -> Void = { _ in }) throws -> DriverOutcome {
    let target = InProcessTarget(engine: engine)
    let load = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                      configuration: DriverConfiguration(phase: .load, workload: configuration))
    _ = try load.run(metadata: metadata(.load))
    let run = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                     configuration: DriverConfiguration(phase: .run, workload: configuration))
    return try run.run(metadata: metadata(.run), onEvent: onEvent)
}

@Suite("Driver")
struct DriverTests {
    @Test("every workload file runs on every engine that has what it needs",
          arguments: ["workloada", "workloadb", "workloadc", "workloadd", "workloade", "workloadf", "workload_template"],
          ["hash", "skiplist", "lsm", "btree", "null"])
    func everyWorkloadOnEveryEngine(file: String, engineName: String) throws {
        // workload_template's own counts (1M records, 3M operations) are scaled down to test size.
        let configuration = try workloadConfiguration(file, ["recordcount=1000", "operationcount=2000", "threadcount=2"])
        let engine = try StandardEngines.registry.open(engineName)
        defer { try? engine.close() }
        if file == "workloade" && !engine.capabilities.contains(.orderedScan) {
            #expect(throws: DriverError.self) { try loadAndRun(configuration, engine: engine) }
            do { _ = try loadAndRun(configuration, engine: engine) } catch {
                #expect("\(error)".contains("lacks the ordered-scan capability"))
                #expect("\(error)".contains("workloade:"))
            }
            return
        }
        let outcome = try loadAndRun(configuration, engine: engine)
        #expect(outcome.result.operations == 2000)
        for series in outcome.result.series where !series.name.hasPrefix("Intended") {
            let bad = series.returns.filter { $0.key != "OK" && !(engineName == "null" && $0.key == "NOT_FOUND") }
            #expect(bad.isEmpty, "\(file) on \(engineName): \(series.name) returned \(bad)")
        }
    }

    @Test("the operation mix of a run is within 1% of the proportions over 100k operations")
    func operationMix() throws {
        let configuration = try workloadConfiguration("workloada", ["recordcount=1000", "operationcount=100000",
                                                                    "readproportion=0.6", "updateproportion=0.25",
                                                                    "insertproportion=0.1", "deleteproportion=0.05"])
        let engine = try StandardEngines.registry.open("hash")
        let outcome = try loadAndRun(configuration, engine: engine)
        let result = outcome.result
        #expect(result.operations == 100_000)
        func share(_ name: String) -> Double {
            Double(result.series(named: name)?.returns.values.reduce(0, +) ?? 0) / 100_000
        }
        #expect(abs(share("READ") - 0.6) < 0.01)
        #expect(abs(share("UPDATE") - 0.25) < 0.01)
        #expect(abs(share("INSERT") - 0.1) < 0.01)
        #expect(abs(share("DELETE") - 0.05) < 0.01)
    }

    @Test("read-modify-write is timed as READ, UPDATE and READ-MODIFY-WRITE, and counted once")
    func readModifyWrite() throws {
        let configuration = try workloadConfiguration("workloadf", ["operationcount=3000"])
        let outcome = try loadAndRun(configuration, engine: try StandardEngines.registry.open("skiplist"))
        let rmw = try #require(outcome.result.series(named: "READ-MODIFY-WRITE")).operations
        let reads = try #require(outcome.result.series(named: "READ")).operations
        let updates = try #require(outcome.result.series(named: "UPDATE")).operations
        #expect(rmw > 1200 && rmw < 1800)
        #expect(updates == rmw)
        #expect(reads == 3000)
        #expect(outcome.result.operations == 3000)
    }

    @Test("warm-up operations are excluded from the results")
    func warmup() throws {
        let configuration = try workloadConfiguration("workloadc", ["operationcount=2000", "warmupops=700", "threadcount=2"])
        let outcome = try loadAndRun(configuration, engine: try StandardEngines.registry.open("hash"))
        #expect(outcome.warmupOperations == 700)
        #expect(outcome.result.operations == 2000)
        #expect(outcome.result.series(named: "READ")?.operations == 2000)
        #expect(outcome.result.metadata.warmUpExcludedOperations == 700)
    }

    @Test("with a target rate the run is paced and Intended series are reported")
    func targetRate() throws {
        let configuration = try workloadConfiguration("workloadb", ["operationcount=1000", "target=2000", "threadcount=2"])
        let outcome = try loadAndRun(configuration, engine: try StandardEngines.registry.open("hash"))
        // 1000 operations at 2000/s take about half a second; never much less.
        #expect(outcome.result.runtimeMilliseconds >= 450)
        #expect(outcome.result.series(named: "Intended-READ")?.operations == outcome.result.series(named: "READ")?.operations)
    }

    @Test("maxexecutiontime stops an unbounded run")
    func timeLimit() throws {
        let configuration = try workloadConfiguration("workloadc", ["operationcount=0", "maxexecutiontime=0.3"])
        let outcome = try loadAndRun(configuration, engine: try StandardEngines.registry.open("hash"))
        #expect(outcome.stoppedByTimeLimit)
        #expect(outcome.result.operations > 0)
        #expect(outcome.result.runtimeMilliseconds < 5_000)
    }

    @Test("status lines arrive every status interval in YCSB's shape")
    func statusLines() throws {
        let configuration = try workloadConfiguration("workloadc", ["operationcount=0", "maxexecutiontime=1.1",
                                                                    "status=true", "status.interval=0.25"])
        let lines = LineCollector()
        _ = try loadAndRun(configuration, engine: try StandardEngines.registry.open("hash")) { event in
            if case .status(let line) = event { lines.append(line) }
        }
        let collected = lines.lines
        #expect(collected.count >= 4, "\(collected)")
        let shape = #/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3} \d+ sec: \d+ operations; .*\[READ: Count=\d+, Max=\d+, Min=\d+, Avg=[0-9.]+, 50=\d+, 90=\d+, 99=\d+, 99.9=\d+, 99.99=\d+\] $/#
        // An interval before any operation completed (a loaded machine can delay the first one
        // past 0.25 s) has no series to summarise: YCSB prints no bracket then either.
        let empty = #/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3} \d+ sec: 0 operations; .*$/#
        for line in collected.dropLast() {
            #expect(line.wholeMatch(of: shape) != nil || line.wholeMatch(of: empty) != nil, "\(line)")
        }
        #expect(collected.contains { $0.wholeMatch(of: shape) != nil }, "no status line with a READ summary: \(collected)")
    }

    @Test("dataintegrity verifies every read, and a corrupted value is reported as UNEXPECTED_STATE")
    func dataIntegrity() throws {
        let configuration = try workloadConfiguration("workloadc", ["operationcount=2000", "dataintegrity=true"])
        let good = try loadAndRun(configuration, engine: try StandardEngines.registry.open("skiplist"))
        #expect(good.result.series(named: "VERIFY")?.returns == ["OK": 2000])

        let bad = try loadAndRun(configuration, engine: CorruptingEngine(try StandardEngines.registry.open("skiplist")))
        let verdicts = try #require(bad.result.series(named: "VERIFY")).returns
        #expect(verdicts["UNEXPECTED_STATE", default: 0] > 0, "\(verdicts)")
    }
}

final class LineCollector: @unchecked Sendable {
    private let lock = Lock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

/// Returns every 10th value read with its last byte changed.
final class CorruptingEngine: KeyValueEngine, @unchecked Sendable {
    let inner: any KeyValueEngine
    private let lock = Lock()
    private var reads = 0
    init(_ inner: any KeyValueEngine) { self.inner = inner }
    var name: String { inner.name }
    var capabilities: EngineCapabilities { inner.capabilities }
    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        let corrupt = lock.withLock { reads += 1; return reads % 10 == 0 }
        return try inner.get(key) { value in
            guard corrupt, value.count > 0 else { return body(value) }
            var copy = Array(value)
            copy[copy.count - 1] ^= 0x01
            return copy.withUnsafeBytes { body($0) }
        }
    }
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) { try inner.put(key, value, options: options) }
    func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool { try inner.delete(key, options: options) }
    func scan(from start: UnsafeRawBufferPointer, limit: Int, _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) { try inner.scan(from: start, limit: limit, visit) }
    func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) { try inner.write(batch, options: options) }
    func flush() throws(EngineError) { try inner.flush() }
    func close() throws(EngineError) { try inner.close() }
    var count: Int? { inner.count }
    func checkInvariants() throws(EngineError) { try inner.checkInvariants() }
}
