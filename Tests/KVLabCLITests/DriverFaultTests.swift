// The driver under faults, end to end: a paused redis-server, a `kvlab serve` restart, a Redis
// Cluster failover. Assertions are on counts of operations and statuses, never on timings.

import Driver
import Foundation
import KVClient
import KVLabTestSupport
import Measurement
import RESP
import Synchronization
import Testing
import Workload

/// A target that forwards to another and logs every operation's status (and its key's cluster
/// slot) in completion order, so a test can wait for "N successes after the fault".
final class RecordingTarget: DriverTarget, @unchecked Sendable {
    struct Entry { var slot: Int; var status: OperationStatus }
    let inner: any DriverTarget
    private let log = Mutex<[Entry]>([])

    init(_ inner: any DriverTarget) { self.inner = inner }

    var description: String { inner.description }
    var supportsOrderedScan: Bool { inner.supportsOrderedScan }
    func makeSession(thread: Int) throws(DriverError) -> any TargetSession {
        let session = try inner.makeSession(thread: thread)
        if let pipelined = session as? any PipelinedTargetSession, pipelined.pipelineDepth > 1 {
            return RecordingPipelinedSession(inner: pipelined, target: self)
        }
        return RecordingSession(inner: session, target: self)
    }

    func record(_ key: UnsafeRawBufferPointer, _ status: OperationStatus) {
        record(slot: ClusterSlot.slot(of: key), status)
    }

    func record(slot: Int, _ status: OperationStatus) {
        log.withLock { $0.append(Entry(slot: slot, status: status)) }
    }

    var entries: [Entry] { log.withLock { $0 } }
    var count: Int { log.withLock { $0.count } }
    func count(_ status: OperationStatus, from start: Int = 0, slots: Set<Int>? = nil) -> Int {
        log.withLock { l in
            l[min(start, l.count)...].filter { entry in entry.status == status && (slots?.contains(entry.slot) ?? true) }.count
        }
    }
    /// Index just past the last ERROR (0 if none).
    var afterLastError: Int { log.withLock { l in (l.lastIndex { $0.status == .error }).map { $0 + 1 } ?? 0 } }
}

class RecordingSession: TargetSession {
    let inner: any TargetSession
    let target: RecordingTarget
    init(inner: any TargetSession, target: RecordingTarget) { self.inner = inner; self.target = target }
    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus {
        let s = inner.read(operation, verifier: verifier); target.record(operation.key, s); return s
    }
    func update(_ operation: PlannedOperation) -> OperationStatus { let s = inner.update(operation); target.record(operation.key, s); return s }
    func insert(_ operation: PlannedOperation) -> OperationStatus { let s = inner.insert(operation); target.record(operation.key, s); return s }
    func scan(_ operation: PlannedOperation) -> OperationStatus { let s = inner.scan(operation); target.record(operation.key, s); return s }
    func delete(_ operation: PlannedOperation) -> OperationStatus { let s = inner.delete(operation); target.record(operation.key, s); return s }
    func close() { inner.close() }
}

/// The recording wrapper of a session with operations in flight: it keeps the driver on its
/// pipelined path and logs each queued operation's status when the queue is drained.
final class RecordingPipelinedSession: RecordingSession, PipelinedTargetSession {
    let pipelined: any PipelinedTargetSession
    private var queuedSlots: [Int] = []
    init(inner: any PipelinedTargetSession, target: RecordingTarget) {
        pipelined = inner
        super.init(inner: inner, target: target)
    }
    var pipelineDepth: Int { pipelined.pipelineDepth }
    func enqueue(_ operation: PlannedOperation) -> Bool {
        guard pipelined.enqueue(operation) else { return false }
        queuedSlots.append(ClusterSlot.slot(of: operation.key))
        return true
    }
    func sendQueued() { pipelined.sendQueued() }
    func receiveQueued(into statuses: inout [OperationStatus]) {
        let first = statuses.count
        pipelined.receiveQueued(into: &statuses)
        for (slot, status) in zip(queuedSlots, statuses[first...]) { target.record(slot: slot, status) }
        queuedSlots.removeAll(keepingCapacity: true)
    }
}

/// Polls `condition` every 20 ms for at most `seconds`; returns whether it became true.
func eventually(within seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// A driver run in the background, stopped on request.
final class BackgroundRun: @unchecked Sendable {
    let driver: Driver
    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<DriverOutcome, any Error>?

    init(_ driver: Driver) {
        self.driver = driver
        let thread = Thread { [self] in
            do { outcome = .success(try driver.run(metadata: RunMetadata(kvlabVersion: "test", engine: "test", threads: 2, startTime: Date(), machineCores: 2, phase: .run))) }
            catch { outcome = .failure(error) }
            done.signal()
        }
        thread.start()
    }

    /// Stops the run and returns its outcome (waiting at most `seconds`).
    func stop(waiting seconds: Double = 60) throws -> DriverOutcome {
        driver.requestStop()
        guard done.wait(timeout: .now() + seconds) == .success, let outcome else {
            throw RedisProcessError.notReady("the driver did not stop within \(seconds) s")
        }
        return try outcome.get()
    }
}

/// Workload A (read/update, zipfian) on `records` records, unbounded: the test stops it.
func faultWorkload(records: Int) throws -> CoreWorkloadConfiguration {
    try CoreWorkloadConfiguration.load(files: [workloads.appendingPathComponent("workloada").path],
                                       overrides: ["recordcount=\(records)", "operationcount=0", "threadcount=2", "maxexecutiontime=120"])
}

/// Loads the records, then starts the run phase through a `RecordingTarget` in the background.
func startFaultRun(url: String, records: Int, pipeline: Int = 1, connection: ConnectionSettings) throws -> (RecordingTarget, BackgroundRun) {
    let configuration = try faultWorkload(records: records)
    let fieldNames = (0..<configuration.fieldCount).map { Array(configuration.fieldName($0).utf8) }
    let target = try RESPTarget(url: url, mapping: .hash, pipeline: pipeline, scanIndex: false, fieldNames: fieldNames, connection: connection)
    let load = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                      configuration: DriverConfiguration(phase: .load, workload: configuration))
    let loaded = try load.run(metadata: RunMetadata(kvlabVersion: "test", engine: "test", threads: 2, startTime: Date(), machineCores: 2, phase: .load))
    #expect(loaded.result.series(named: "INSERT")?.returns == ["OK": UInt64(records)])
    let recording = RecordingTarget(target)
    let run = Driver(workload: try CoreWorkload(configuration: configuration), target: recording,
                     configuration: DriverConfiguration(phase: .run, workload: configuration))
    return (recording, BackgroundRun(run))
}

/// Operations per status over every measured series (Intended-* excluded: they repeat the others).
func returns(_ result: RunResult) -> [String: UInt64] {
    var total: [String: UInt64] = [:]
    for series in result.series where !series.name.hasPrefix("Intended") {
        for (status, n) in series.returns { total[status, default: 0] += n }
    }
    return total
}

@Suite("Driver under faults", .serialized)
struct DriverFaultTests {
    @Test("a paused server times out the operations in flight, and the run goes on once it resumes")
    func pausedServer() throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let (recording, run) = try startFaultRun(url: "redis://127.0.0.1:\(redis.port)", records: 200,
                                                 connection: ConnectionSettings(ioTimeoutSeconds: 0.25, connectTimeoutSeconds: 1,
                                                                                backoff: Backoff(initialSeconds: 0.01, maximumSeconds: 0.1)))
        #expect(eventually(within: 30) { recording.count(.ok) >= 200 }, "the run never got going")
        // SIGSTOP: connections still open, nothing answers; every read times out.
        kill(redis.process.processIdentifier, SIGSTOP)
        let paused = eventually(within: 20) { recording.count(.error) >= 2 }
        kill(redis.process.processIdentifier, SIGCONT)
        #expect(paused, "no operation failed while the server was stopped")
        let resumedAt = recording.count
        // Before the fix, one timeout closed the connection for good and every later
        // operation failed at once: no success would ever follow.
        let recovered = eventually(within: 30) { recording.count(.ok, from: max(resumedAt, recording.afterLastError)) >= 300 }
        let outcome = try run.stop()
        #expect(recovered, "fewer than 300 successes after the server resumed")
        let statuses = returns(outcome.result)
        let errors = recording.count(.error)
        #expect(statuses["ERROR"] == UInt64(errors), "every failed operation is in the results: \(statuses)")
        #expect(outcome.result.operations == UInt64(recording.count), "every operation is counted once")
        // Each failed operation cost at least a read timeout or a backoff: a handful per thread.
        #expect(errors >= 2 && errors < 100, "\(errors) errors")
    }

    @Test("the driver survives a kvlab serve restart: errors counted during the gap, successes after", arguments: [1, 8])
    func serveRestart(pipeline: Int) throws {
        let port = freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-restart-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["--engine", "btree", "--db", directory.path, "--threads", "2"]
        var server = try ServeProcess(arguments, port: port)
        let (recording, run) = try startFaultRun(url: "redis://127.0.0.1:\(port)", records: 300, pipeline: pipeline,
                                                 connection: ConnectionSettings(ioTimeoutSeconds: 5, connectTimeoutSeconds: 1,
                                                                                backoff: Backoff(initialSeconds: 0.01, maximumSeconds: 0.2)))
        var stopped = false
        defer { if !stopped { _ = try? run.stop() }; _ = server.stop(signal: SIGKILL) }
        #expect(eventually(within: 30) { recording.count(.ok) >= 300 }, "the run never got going")
        let (status, _) = server.stop(signal: SIGTERM)
        #expect(status == 0, "kvlab serve did not stop cleanly")
        let downAt = recording.count
        #expect(eventually(within: 20) { recording.count(.error, from: downAt) >= 4 }, "no operation failed while the server was down")
        server = try ServeProcess(arguments, port: port)
        let upAt = recording.count
        let recovered = eventually(within: 30) { recording.count(.ok, from: upAt) >= 500 }
        let outcome = try run.stop()
        stopped = true
        #expect(recovered, "fewer than 500 successes after the restart: \(recording.count(.ok, from: upAt))")

        let errors = recording.count(.error)
        let statuses = returns(outcome.result)
        #expect(statuses["ERROR"] == UInt64(errors), "every failed operation is in the results: \(statuses)")
        #expect(outcome.result.operations == UInt64(recording.count), "every operation is counted once")
        // The records persisted (btree): after the restart reads find them.
        #expect(recording.count(.notFound, from: upAt) == 0)
        // Once the server answered again, nothing failed: the connections were all reopened.
        // (Pipelined, a batch that straddled the restart completes after it: the operations
        // queued before the reconnection, at most depth - 1 per thread, are logged late.)
        let entries = recording.entries
        let firstSuccess = try #require(entries[upAt...].firstIndex { $0.status == .ok })
        let lateErrors = entries[firstSuccess...].filter { $0.status == .error }.count
        #expect(lateErrors <= 2 * (pipeline - 1), "\(lateErrors) errors after the first success past the restart")
        // With backoff, a dead server costs each thread a few failed operations per second of
        // downtime, not thousands of instant failures.
        #expect(errors < 200, "\(errors) errors during the restart")
    }

    @Test("a Redis Cluster primary killed mid-run: its replica is promoted and the run goes on", arguments: [1, 4])
    func clusterFailover(pipeline: Int) throws {
        let cluster = try RedisClusterProcesses(replicas: 1, nodeTimeoutMilliseconds: 1000)
        defer { cluster.stop() }
        let (recording, run) = try startFaultRun(url: cluster.seedURL, records: 300, pipeline: pipeline,
                                                 connection: ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1,
                                                                                backoff: Backoff(initialSeconds: 0.01, maximumSeconds: 0.2)))
        var stopped = false
        defer { if !stopped { _ = try? run.stop() } }
        #expect(eventually(within: 30) { recording.count(.ok) >= 300 }, "the run never got going")

        // The victim: a primary that is not the seed node, and its replica.
        let primaries = cluster.nodes.filter { RedisClusterProcesses.role(of: $0) == "master" }
        let victim = try #require(primaries.first { $0.port != cluster.nodes[0].port })
        let replica = try #require(cluster.nodes.first { RedisClusterProcesses.primaryPort(of: $0) == victim.port })
        let seed = try RESPConnection(endpoint: cluster.nodes[0].endpoint, timeoutSeconds: 5)
        var victimSlots = Set<Int>()
        for range in try seed.call(["CLUSTER", "SLOTS"]).elements ?? [] {
            guard let items = range.elements, items.count >= 3, case .integer(let first) = items[0], case .integer(let last) = items[1],
                  let owner = items[2].elements, owner.count >= 2, owner[1] == .integer(Int64(victim.port)) else { continue }
            victimSlots.formUnion(Int(first)...Int(last))
        }
        #expect(!victimSlots.isEmpty)

        victim.stop()   // SIGKILL
        let killedAt = recording.count
        #expect(eventually(within: 20) { recording.count(.error, from: killedAt) >= 1 }, "no operation failed with a primary dead")
        #expect(eventually(within: 30) { RedisClusterProcesses.role(of: replica) == "master" }, "the replica was not promoted")
        // Operations on the dead primary's slots, and on all others, succeed after the failover.
        let recovered = eventually(within: 40) {
            let from = recording.afterLastError
            return recording.count(.ok, from: from) >= 500 && recording.count(.ok, from: from, slots: victimSlots) >= 50
        }
        let outcome = try run.stop()
        stopped = true
        let from = recording.afterLastError
        #expect(recovered, "after the last error: \(recording.count(.ok, from: from)) successes, \(recording.count(.ok, from: from, slots: victimSlots)) on the failed-over slots")

        let errors = recording.count(.error)
        let statuses = returns(outcome.result)
        #expect(errors >= 1)
        #expect(statuses["ERROR"] == UInt64(errors), "every failed operation is in the results: \(statuses)")
        #expect(outcome.result.operations == UInt64(recording.count), "every operation is counted once")
        // Every error fell on the dead primary's slots or while the cluster was down.
        #expect(errors < 500, "\(errors) errors")
    }
}
