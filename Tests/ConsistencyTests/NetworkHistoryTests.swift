// `kvlab run --history` over the network: YCSB runs against kvlab serve and redis-server recorded and checked.

import Driver
import Foundation
import History
import KVClient
import KVLabTestSupport
import Linearizability
import Measurement
import Testing
import Workload

/// Loads and runs a small colliding workload (10 records, 3 threads) against `url`, recording
/// both phases into one history, as `kvlab load --history h` then `kvlab run --history h --history-append` do.
func recordNetworkRun(url: String, mapping: RecordMapping, extra: [String] = []) throws -> History {
    let overrides = ["recordcount=10", "operationcount=600", "threadcount=3", "readproportion=0.5",
                     "updateproportion=0.4", "readmodifywriteproportion=0.1", "requestdistribution=uniform",
                     "fieldcount=3", "fieldlength=8"] + extra
    let configuration = try CoreWorkloadConfiguration.load(files: [], overrides: overrides)
    let fieldNames = (0..<configuration.fieldCount).map { Array(configuration.fieldName($0).utf8) }
    let target = try RESPTarget(url: url, mapping: mapping, fieldNames: fieldNames)
    func meta(_ phase: RunMetadata.Phase) -> RunMetadata {
        RunMetadata(kvlabVersion: "test", engine: url, threads: 3, startTime: Date(), machineCores: 2, phase: phase)
    }
    var load = DriverConfiguration(phase: .load, workload: configuration)
    load.recordsHistory = true
    let loaded = try Driver(workload: try CoreWorkload(configuration: configuration), target: target, configuration: load)
        .run(metadata: meta(.load))
    var run = DriverConfiguration(phase: .run, workload: configuration)
    run.recordsHistory = true
    run.historyFirstProcess = (loaded.historyRecorders.map(\.highestProcess).max() ?? 0) + 1
    let ran = try Driver(workload: try CoreWorkload(configuration: configuration), target: target, configuration: run)
        .run(metadata: meta(.run))
    return HistoryRecorder.history(merging: loaded.historyRecorders + ran.historyRecorders)
}

@Suite("Histories over the network", .serialized)
struct NetworkHistoryTests {
    @Test("YCSB runs against kvlab serve and redis-server, hash and string mappings, record linearizable histories",
          arguments: [RecordMapping.hash, .string])
    func recordedRunsCheck(mapping: RecordMapping) throws {
        let server = try startKVLabServer()
        defer { try? server.shutdown() }
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        for url in ["redis://127.0.0.1:\(server.port)", "redis://127.0.0.1:\(redis.port)"] {
            let history = try recordNetworkRun(url: url, mapping: mapping)
            let operations = try history.operations()
            // 10 inserts, 600 operations, and a second operation for each read-modify-write (about 60).
            #expect(operations.count > 610 && operations.count < 700, "\(url): every operation recorded; read-modify-write as two")
            #expect(history.events.allSatisfy { $0.kind == .invoke || $0.kind == .ok }, "\(url): no failures on a healthy server")
            // Reads see digests of written records (not nil, not made up): every ok read value was written.
            let written = Set(operations.filter { $0.function == "write" }.map(\.input))
            let reads = operations.filter { $0.function == "read" && $0.outcome == .ok }
            #expect(!reads.isEmpty && reads.allSatisfy { written.contains($0.output) }, "\(url)")
            let result = try check(history, model: KeyValueModel(), options: CheckOptions(timeout: .seconds(60)))
            #expect(result.verdict == .linearizable, "\(url) \(mapping): \(result.textReport())")
        }
    }

    @Test("a YCSB run whose server drops connections records info writes and retires their processes")
    func droppedConnectionsAreInfo() throws {
        // Every 7th HMSET closes the connection after the store applied it.
        let store = ScriptedStore(fault: .none)
        let counter = Counter()
        let server = try ScriptedRESPServer { _, command in
            guard command.first == "HMSET" else { return store.handleHash(command) }
            let reply = store.handleHash(command)
            return counter.next() % 7 == 0 ? .close : reply
        }
        defer { server.stop() }
        let history = try recordNetworkRun(url: "redis://127.0.0.1:\(server.port)", mapping: .hash,
                                           extra: ["writeallfields=true", "readmodifywriteproportion=0", "updateproportion=0.5"])
        let infos = history.events.filter { $0.kind == .info }
        #expect(infos.count > 10)
        #expect(infos.allSatisfy { $0.function == "write" && !$0.value.isNull })
        for info in infos {
            let position = try #require(history.events.firstIndex(of: info))
            #expect(!history.events[(position + 1)...].contains { $0.process == info.process })
        }
        let result = try check(history, model: KeyValueModel(), options: CheckOptions(timeout: .seconds(60)))
        #expect(result.verdict == .linearizable, "\(result.textReport())")
    }
}
