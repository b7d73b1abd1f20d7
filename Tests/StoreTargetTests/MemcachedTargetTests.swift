// The memcached client and driver target against a real memcached process.

import Driver
import Foundation
import KVClient
import Measurement
import StoreProcesses
import Testing
import Workload

/// The repository's `workloads/` folder.
let workloadsDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("workloads")

func workloadConfiguration(_ file: String, _ overrides: [String]) throws -> CoreWorkloadConfiguration {
    try CoreWorkloadConfiguration.load(files: [workloadsDirectory.appendingPathComponent(file).path], overrides: overrides)
}

func metadata(_ phase: RunMetadata.Phase) -> RunMetadata {
    RunMetadata(kvlabVersion: "test", engine: "test", threads: 1, startTime: Date(), machineCores: 2, phase: phase)
}

/// Loads, then runs `configuration` on `target`; returns the run phase's outcome.
func loadAndRun(_ configuration: CoreWorkloadConfiguration, target: any DriverTarget) throws -> DriverOutcome {
    let load = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                      configuration: DriverConfiguration(phase: .load, workload: configuration))
    let loaded = try load.run(metadata: metadata(.load))
    #expect(loaded.result.series.allSatisfy { $0.returns.keys.allSatisfy { $0 == "OK" } }, "load: \(loaded.result.series.map { ($0.name, $0.returns) })")
    let run = Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                     configuration: DriverConfiguration(phase: .run, workload: configuration))
    return try run.run(metadata: metadata(.run))
}

/// Series of `outcome` that returned anything but OK (latency-only series excluded).
func nonOK(_ outcome: DriverOutcome) -> [(String, [String: Int])] {
    outcome.result.series.filter { !$0.name.hasPrefix("Intended") }
        .compactMap { s in
            let bad = s.returns.filter { $0.key != "OK" }.mapValues { Int($0) }
            return bad.isEmpty ? nil : (s.name, bad)
        }
}

@Suite("memcached target")
struct MemcachedTargetTests {
    @Test("memcached and etcd URLs parse, and bad ones say what was expected")
    func urls() throws {
        #expect(try MemcachedURL("memcached://127.0.0.1:11311").endpoint == RedisEndpoint(host: "127.0.0.1", port: 11311))
        #expect(try MemcachedURL("memcached://cache").endpoint.port == 11211)
        #expect(try EtcdURL("etcd://127.0.0.1:1,127.0.0.1:2").endpoints.map(\.port) == [1, 2])
        #expect(try EtcdURL("etcd://e1").endpoints == [RedisEndpoint(host: "e1", port: 2379)])
        #expect(throws: RESPClientError.self) { try MemcachedURL("memcached://a:1,b:2") }
        #expect(throws: RESPClientError.self) { try EtcdURL("etcd://h:70000") }
        do { _ = try EtcdURL("redis://h:1"); Issue.record("accepted a redis URL") } catch {
            #expect("\(error)".contains("expected etcd://host:port"))
        }
    }

    @Test("the memcached connection sets, gets with a CAS unique, refuses a stale cas and deletes")
    func connectionBasics() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        let c = try MemcachedConnection(endpoint: server.endpoint)
        let key = Array("k1".utf8)
        #expect(try c.get(key) == nil)
        #expect(try c.set(key, Array("v1".utf8)) == .stored)
        let first = try #require(try c.get(key, cas: true))
        #expect(first.value == Array("v1".utf8))
        #expect(first.cas != 0)
        #expect(try c.set(key, Array("v2".utf8), casUnique: first.cas) == .stored)
        // The unique changed with that write: the same cas again is refused.
        #expect(try c.set(key, Array("v3".utf8), casUnique: first.cas) == .exists)
        #expect(try c.get(key)?.value == Array("v2".utf8))
        #expect(try c.delete(key) == true)
        #expect(try c.delete(key) == false)
        #expect(try c.set(key, Array("v".utf8), casUnique: first.cas) == .notFound)
        // A value with \r\n inside, and an empty one, survive the framing.
        let tricky: [UInt8] = Array("a\r\nEND\r\nb".utf8)
        #expect(try c.set(key, tricky) == .stored)
        #expect(try c.get(key)?.value == tricky)
        #expect(try c.set(key, []) == .stored)
        #expect(try c.get(key)?.value == [])
    }

    @Test("pipelined requests come back in order, each with its own status")
    func pipelining() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        let c = try MemcachedConnection(endpoint: server.endpoint)
        for i in 0..<100 {
            let k = Array("p\(i)".utf8), v = Array("value-\(i)".utf8)
            try k.withUnsafeBytes { key in try v.withUnsafeBytes { try c.queueSet(key, value: $0) } }
        }
        for i in 0..<150 { try Array("p\(i)".utf8).withUnsafeBytes { try c.queueGet($0) } }
        #expect(c.pendingReplies == 250)
        try c.flush()
        for _ in 0..<100 { #expect(try c.readStore() == .stored) }
        for i in 0..<150 {
            let got = try c.readGet { value, _ in value.map { String(decoding: $0, as: UTF8.self) } }
            #expect(got == (i < 100 ? "value-\(i)" : nil))
        }
    }

    @Test("YCSB workloads A, B, C, D and F on memcached, pipelined or not, verify every record read")
    func ycsbWorkloads() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        // Without dataintegrity too: reads then take the unverified path (workload F's
        // read-modify-write once reached the session with a kind no command matched).
        for (file, pipeline, verify) in [("workloada", 1, true), ("workloadb", 8, true), ("workloadc", 4, true), ("workloadd", 1, true),
                                         ("workloadf", 1, true), ("workloadf", 1, false), ("workloada", 1, false)] {
            let configuration = try workloadConfiguration(file, ["recordcount=500", "operationcount=2000", "threadcount=2",
                                                                 "dataintegrity=\(verify)", "writeallfields=\(!verify)",
                                                                 "fieldcount=4", "fieldlength=50"])
            let target = try MemcachedTarget(url: server.url, pipeline: pipeline, fieldCount: configuration.fieldCount)
            let outcome = try loadAndRun(configuration, target: target)
            #expect(outcome.result.operations == 2000)
            #expect(nonOK(outcome).isEmpty, "\(file) pipeline \(pipeline) verify \(verify): \(nonOK(outcome))")
        }
    }

    @Test("an update of some fields on memcached merges them into the record with gets and cas")
    func partialUpdate() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        // writeallfields=false: each update writes one field; the read-back verifies all of them.
        let configuration = try workloadConfiguration("workloada", ["recordcount=100", "operationcount=3000", "threadcount=4",
                                                                    "dataintegrity=true", "writeallfields=false", "fieldcount=5",
                                                                    "requestdistribution=uniform"])
        let target = try MemcachedTarget(url: server.url, fieldCount: configuration.fieldCount)
        let outcome = try loadAndRun(configuration, target: target)
        #expect(nonOK(outcome).isEmpty, "\(nonOK(outcome))")
    }

    @Test("workload E is refused on memcached: it has no ordered scans")
    func noScans() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        let configuration = try workloadConfiguration("workloade", ["recordcount=10", "operationcount=10"])
        let target = try MemcachedTarget(url: server.url, fieldCount: configuration.fieldCount)
        do {
            _ = try loadAndRun(configuration, target: target)
            Issue.record("workload E ran on memcached")
        } catch {
            #expect("\(error)".contains("ordered-scan"))
        }
    }

    @Test("a memcached session fails operations while the server is down and reconnects when it is back")
    func reconnects() throws {
        var server = try MemcachedServer()
        defer { server.stop() }
        let port = server.port
        let target = try MemcachedTarget(url: server.url, fieldCount: 1,
                                         connection: ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1,
                                                                        backoff: Backoff(initialSeconds: 0.01, maximumSeconds: 0.05)))
        let session = try target.makeSession(thread: 0)
        let configuration = try workloadConfiguration("workloada", ["recordcount=1000", "fieldcount=1"])
        var thread = try CoreWorkload(configuration: configuration).makeThread(index: 0)
        // Each call plans the next load insert (its buffers are valid until the next plan).
        func insert() -> OperationStatus { session.insert(thread.nextLoadOperation()!) }
        #expect(insert() == .ok)
        server.stop()
        #expect(insert() == .error)
        #expect(insert() == .error)
        server = try MemcachedServer(port: port)
        // The first attempt after the restart may still find the old connection's failure.
        var status = OperationStatus.error
        for _ in 0..<20 where status != .ok { status = insert() }
        #expect(status == .ok)
        session.close()
    }
}
