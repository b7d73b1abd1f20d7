// The event-driven memcached driver (--clients N) against a real memcached: counts checked against the server's own.

import Driver
import Foundation
import KVClient
import Measurement
import StoreProcesses
import Testing
import Workload

/// The server's `cmd_get + cmd_set` (requests it served), read with the `stats` command.
func servedRequests(_ server: MemcachedServer) throws -> Int {
    let socket = try BlockingSocket(endpoint: server.endpoint, settings: ConnectionSettings(ioTimeoutSeconds: 5))
    defer { socket.close() }
    socket.write("stats\r\n")
    try socket.flush()
    var total = 0
    while true {
        let line = try socket.readLine { String(decoding: $0, as: UTF8.self) }
        if line == "END" { break }
        let words = line.split(separator: " ")
        if words.count == 3 && (words[1] == "cmd_get" || words[1] == "cmd_set") { total += Int(words[2]) ?? 0 }
    }
    return total
}

/// Measured operations in the READ and UPDATE series' histograms.
func histogramCount(_ outcome: DriverOutcome) -> UInt64 {
    outcome.result.series.filter { $0.name == "READ" || $0.name == "UPDATE" }.reduce(0) { $0 + $1.histogram.totalCount }
}

@Suite("memcached event-driven clients")
struct MemcachedEventLoopTests {
    func configuration(_ overrides: [String]) throws -> CoreWorkloadConfiguration {
        try workloadConfiguration("workloadb", ["recordcount=300", "threadcount=2", "fieldcount=1", "fieldlength=50",
                                                "readproportion=0.9", "updateproportion=0.1", "writeallfields=true"] + overrides)
    }

    @Test("with 1, 4 and 16 clients per thread (and 4 × pipeline 4) every operation is OK, recorded once and served once")
    func exactCounts() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        for (clients, pipeline) in [(1, 1), (4, 1), (16, 1), (4, 4)] {
            let c = try configuration(["operationcount=3000"])
            let target = try MemcachedTarget(url: server.url, pipeline: pipeline, clientsPerThread: clients, fieldCount: c.fieldCount)
            let load = Driver(workload: try CoreWorkload(configuration: c), target: target,
                              configuration: DriverConfiguration(phase: .load, workload: c))
            _ = try load.run(metadata: metadata(.load))
            let before = try servedRequests(server)
            let run = Driver(workload: try CoreWorkload(configuration: c), target: target,
                             configuration: DriverConfiguration(phase: .run, workload: c))
            let outcome = try run.run(metadata: metadata(.run))
            let served = try servedRequests(server) - before
            #expect(outcome.result.operations == 3000, "clients \(clients) pipeline \(pipeline)")
            #expect(histogramCount(outcome) == 3000, "clients \(clients) pipeline \(pipeline): histograms")
            #expect(served == 3000, "clients \(clients) pipeline \(pipeline): memcached served \(served)")
            #expect(nonOK(outcome).isEmpty, "clients \(clients) pipeline \(pipeline): \(nonOK(outcome))")
        }
    }

    @Test("a stop by time limit with 8 clients per thread records every request memcached served, none twice")
    func timeLimit() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        let c = try configuration(["operationcount=1000000000", "maxexecutiontime=1"])
        let target = try MemcachedTarget(url: server.url, clientsPerThread: 8, fieldCount: c.fieldCount)
        _ = try Driver(workload: try CoreWorkload(configuration: c), target: target,
                       configuration: DriverConfiguration(phase: .load, workload: c)).run(metadata: metadata(.load))
        let before = try servedRequests(server)
        let outcome = try Driver(workload: try CoreWorkload(configuration: c), target: target,
                                 configuration: DriverConfiguration(phase: .run, workload: c)).run(metadata: metadata(.run))
        let served = try servedRequests(server) - before
        #expect(outcome.stoppedByTimeLimit)
        #expect(outcome.result.operations > 100)
        #expect(outcome.result.operations == UInt64(served), "recorded \(outcome.result.operations), memcached served \(served)")
        #expect(histogramCount(outcome) == outcome.result.operations)
        #expect(nonOK(outcome).isEmpty, "\(nonOK(outcome))")
    }

    @Test("partial updates (gets/cas) run synchronously on their own idle connection among 4 multiplexed ones")
    func partialUpdates() throws {
        let server = try MemcachedServer()
        defer { server.stop() }
        let c = try workloadConfiguration("workloada", ["recordcount=200", "operationcount=2000", "threadcount=2", "fieldcount=4",
                                                        "fieldlength=20", "writeallfields=false"])
        let target = try MemcachedTarget(url: server.url, clientsPerThread: 4, fieldCount: c.fieldCount)
        let outcome = try loadAndRun(c, target: target)
        #expect(outcome.result.operations == 2000)
        #expect(histogramCount(outcome) == 2000)
        #expect(nonOK(outcome).isEmpty, "\(nonOK(outcome))")
    }

    @Test("a dead connection fails each multiplexed operation in flight once (ERROR), and the slots reconnect when memcached is back")
    func deadConnection() throws {
        var server = try MemcachedServer()
        defer { server.stop() }
        let port = server.port
        let c = try configuration(["recordcount=1000"])
        let target = try MemcachedTarget(url: server.url, clientsPerThread: 4, fieldCount: c.fieldCount,
                                         connection: ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 1,
                                                                        backoff: Backoff(initialSeconds: 0.001, maximumSeconds: 0.002)))
        let session = try #require(try target.makeSession(thread: 0) as? any MultiplexedTargetSession)
        defer { session.close() }
        #expect(session.slots == 4)
        var thread = try CoreWorkload(configuration: c).makeThread(index: 0)
        /// Submits one load insert on every slot and polls (bounded) until all four completed.
        func round() -> [MultiplexedCompletion] {
            for slot in 0..<4 { #expect(session.submit(thread.nextLoadOperation()!, slot: slot)) }
            var completions: [MultiplexedCompletion] = []
            for _ in 0..<100 where completions.count < 4 { session.poll(into: &completions, timeoutNanos: nil) }
            return completions
        }
        let first = round()
        #expect(first.map(\.slot).sorted() == [0, 1, 2, 3])
        #expect(first.allSatisfy { $0.status == .ok }, "\(first)")
        server.stop()
        let failed = round()
        #expect(failed.map(\.slot).sorted() == [0, 1, 2, 3], "each slot's operation completes exactly once: \(failed)")
        #expect(failed.allSatisfy { $0.status == .error }, "\(failed)")
        server = try MemcachedServer(port: port)
        // The first attempts after the restart may still find the old connections' failures.
        var back: [MultiplexedCompletion] = []
        for _ in 0..<20 where !(back.count == 4 && back.allSatisfy { $0.status == .ok }) { back = round() }
        #expect(back.map(\.slot).sorted() == [0, 1, 2, 3])
        #expect(back.allSatisfy { $0.status == .ok }, "\(back)")
    }
}
