// The etcd client, driver target and CAS-register history against a real 3-member etcd cluster.

import Driver
import Foundation
import History
import KVClient
import Linearizability
import Measurement
import StoreProcesses
import Testing
import Workload

/// The seed of randomized tests: KVLAB_SEED if set, else a fixed one; printed for replay.
func testSeed(_ name: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap { UInt64($0) } ?? 19
    print("\(name): seed \(seed) (replay with KVLAB_SEED=\(seed))")
    return seed
}

// One cluster at a time: three etcd members each are heavy for a two-core machine.
@Suite("etcd target", .serialized)
struct EtcdTargetTests {
    @Test("the etcd client puts, reads, compares-and-sets, scans in key order and deletes through the JSON gateway")
    func clientBasics() throws {
        let cluster = try EtcdCluster()
        defer { cluster.stop() }
        let client = EtcdClient(endpoints: cluster.endpoints)
        defer { client.close() }
        let key = Array("k".utf8)
        #expect(try client.range(key).isEmpty)
        // Bytes that are not text survive the base64 round trip.
        let binary: [UInt8] = [0, 255, 13, 10, 34, 92, 1]
        let revision = try client.put(key, binary)
        #expect(revision > 0)
        let read = try #require(try client.range(key).first)
        #expect(read.value == binary)
        #expect(read.modRevision == revision)
        #expect(try client.range(key, serializable: true).first?.value == binary)

        #expect(try client.compareAndPut(key, .valueEquals(binary), Array("two".utf8)) == true)
        #expect(try client.compareAndPut(key, .valueEquals(binary), Array("three".utf8)) == false)
        #expect(try client.compareAndPut(key, .modRevisionEquals(revision), Array("three".utf8)) == false)
        let now = try #require(try client.range(key).first)
        #expect(now.value == Array("two".utf8))
        #expect(try client.compareAndPut(key, .modRevisionEquals(now.modRevision), Array("three".utf8)) == true)
        #expect(try client.compareAndPut(key, .absent, Array("x".utf8)) == false)
        #expect(try client.compareAndPut(Array("fresh".utf8), .absent, Array("x".utf8)) == true)

        for i in [5, 1, 3, 2, 4] { try client.put(Array("scan/\(i)".utf8), Array("v\(i)".utf8)) }
        let scanned = try client.range(Array("scan/2".utf8), rangeEnd: [0], limit: 3)
        #expect(scanned.map { String(decoding: $0.key, as: UTF8.self) } == ["scan/2", "scan/3", "scan/4"])

        #expect(try client.delete(key) == 1)
        #expect(try client.delete(key) == 0)
        #expect(try client.range(key).isEmpty)
    }

    @Test("YCSB workloads A to F run on a 3-member etcd cluster and every record read verifies")
    func ycsbWorkloads() throws {
        let cluster = try EtcdCluster()
        defer { cluster.stop() }
        var loaded = false
        for file in ["workloada", "workloadb", "workloadc", "workloadd", "workloade", "workloadf"] {
            // Small counts: every write is a Raft round with an fsync on each member.
            var overrides = ["recordcount=100", "operationcount=200", "threadcount=4", "dataintegrity=true", "fieldcount=4", "fieldlength=20"]
            if file == "workloade" { overrides.append("maxscanlength=10") }
            let configuration = try workloadConfiguration(file, overrides)
            let target = try EtcdTarget(url: cluster.url, fieldCount: configuration.fieldCount)
            let outcome: DriverOutcome
            if loaded {
                outcome = try Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                                     configuration: DriverConfiguration(phase: .run, workload: configuration)).run(metadata: metadata(.run))
            } else {
                outcome = try loadAndRun(configuration, target: target)
                loaded = true
            }
            #expect(outcome.result.operations == 200)
            #expect(nonOK(outcome).isEmpty, "\(file): \(nonOK(outcome))")
        }
    }

    @Test("an update of some fields on etcd merges them with a mod-revision transaction, under contention")
    func partialUpdates() throws {
        let cluster = try EtcdCluster()
        defer { cluster.stop() }
        let configuration = try workloadConfiguration("workloada", ["recordcount=10", "operationcount=300", "threadcount=6",
                                                                    "dataintegrity=true", "writeallfields=false", "fieldcount=3",
                                                                    "requestdistribution=uniform"])
        let target = try EtcdTarget(url: cluster.url, readConsistency: .serializable, fieldCount: configuration.fieldCount)
        let outcome = try loadAndRun(configuration, target: target)
        #expect(nonOK(outcome).isEmpty, "\(nonOK(outcome))")
    }

    @Test("a CAS-register history recorded on 3 etcd members with 8 clients checks linearizable")
    func registerHistoryIsLinearizable() throws {
        let cluster = try EtcdCluster()
        defer { cluster.stop() }
        let workload = EtcdRegisterWorkload(clients: 8, keys: 3, operationsPerClient: 40, maximumSeconds: 60, seed: testSeed("etcd register"))
        let outcome = workload.run(endpoints: cluster.endpoints)
        let operations = try outcome.history.operations()
        // A meaningful history: every client's operations completed, and some cas succeeded.
        #expect(outcome.ok + outcome.fail + outcome.info == 8 * 40)
        #expect(operations.filter { $0.function == "cas" && $0.outcome == .ok }.count > 0)
        #expect(operations.filter { $0.function == "read" && $0.outcome == .ok && !$0.output.isNull }.count > 0)
        #expect(outcome.info == 0, "no faults, yet \(outcome.info) operations had unknown outcomes")
        let result = try check(outcome.history, model: CASRegisterModel())
        #expect(result.verdict == .linearizable, "\(result.textReport())")
        #expect(Set(operations.compactMap(\.key)).count == 3)
    }

    @Test("a CAS-register history stays linearizable when the leader is killed mid-run")
    func leaderKilledMidRun() throws {
        let cluster = try EtcdCluster()
        defer { cluster.stop() }
        let leader = try #require(cluster.leaderIndex(), "no member reports a leader")
        var workload = EtcdRegisterWorkload(clients: 8, keys: 3, operationsPerClient: 60, maximumSeconds: 60, seed: testSeed("etcd leader kill"),
                                            connection: ConnectionSettings(ioTimeoutSeconds: 3, connectTimeoutSeconds: 1,
                                                                           backoff: Backoff(initialSeconds: 0.02, maximumSeconds: 0.2)))
        // Client 0 kills the leader after its 20th operation: mid-run on any machine.
        workload.fault = { cluster.kill(leader) }
        workload.faultAfterOperations = 20
        let outcome = workload.run(endpoints: cluster.endpoints)
        #expect(cluster.members[leader].child == nil, "the leader was not killed during the run")
        #expect(outcome.ok > 0)
        let result = try check(outcome.history, model: CASRegisterModel())
        print("etcd leader kill: \(outcome.ok) ok, \(outcome.fail) fail, \(outcome.info) info; \(result.verdict)")
        #expect(result.verdict == .linearizable, "\(result.textReport())")
        // The survivors elect a new leader and take writes again.
        try cluster.waitUntilWritable(seconds: 20)
    }

    @Test("the etcd client keeps reading and writing when the member it uses is killed")
    func failover() throws {
        let cluster = try EtcdCluster()
        defer { cluster.stop() }
        let client = EtcdClient(endpoints: cluster.endpoints, settings: ConnectionSettings(ioTimeoutSeconds: 5, connectTimeoutSeconds: 1))
        defer { client.close() }
        try client.put(Array("f".utf8), Array("1".utf8))
        let used = client.current
        cluster.kill(used)
        // The first write after the kill may be indeterminate (its connection died under it);
        // later ones go to a live member. Bounded: at most 10 attempts.
        var written = false
        for attempt in 0..<10 where !written {
            do { try client.put(Array("f".utf8), Array("2".utf8)); written = true } catch {
                #expect(attempt < 9, "still failing: \(error)")
            }
        }
        #expect(written)
        #expect(client.current != used)
        #expect(client.failovers >= 1)
        #expect(try client.range(Array("f".utf8)).first?.value == Array("2".utf8))
        // A member that cannot be reached is not an unknown outcome: nothing was sent.
        let dead = EtcdClient(endpoints: [cluster.members[used].endpoint], settings: ConnectionSettings(ioTimeoutSeconds: 1, connectTimeoutSeconds: 1,
                                                                                                     backoff: Backoff(initialSeconds: 0.01, maximumSeconds: 0.01)))
        do { try dead.put(Array("f".utf8), Array("3".utf8)); Issue.record("a write to a dead member succeeded") } catch {
            #expect(!error.mayHaveTakenEffect, "\(error)")
        }
    }
}
