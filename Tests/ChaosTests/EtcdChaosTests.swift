// etcd under the chaos run loop (a real 3-member cluster behind the proxy, the leader killed), and the stale-read and write-gap analyses on hand-made histories.

import Chaos
import FaultInjection
import Foundation
import History
import Testing

@Suite("etcd chaos end to end")
struct EtcdChaosEndToEndTests {
    static let experimentText = """
    cluster = etcd
    replicas = 2
    sentinels = 0
    workload = register
    clients = 4
    keys = 2
    duration = 6s
    rate = 300
    nemesis = kill
    nemesis.target = primary
    nemesis.first = 1500ms
    nemesis.interval = 5s
    nemesis.fault_duration = 2s
    settle = 1s
    timelimit = 60s
    check.timelimit = 20s
    """

    @Test("killing the etcd leader under the register workload keeps the history linearizable; the fault, the final reads and the stop are all there")
    func leaderKillStaysLinearizable() throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd"), "this test needs /usr/bin/etcd (Debian package etcd-server)")
        let experiment = try Experiment.parse(Self.experimentText, path: "etcd-short.experiment")
        let directory = NSTemporaryDirectory() + "kvlab-etcd-chaos-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try EtcdLaunchedCluster.launch(experiment, runDirectory: directory)
        defer { cluster.stop() }
        let leaderAtStart = try #require(cluster.primaryNode(), "no etcd leader at the start")
        let workload = RecordingWorkload(
            EtcdChaosWorkload(kind: .register, clients: experiment.clients, keys: experiment.keys, endpoints: cluster.endpoints,
                              requestTimeoutSeconds: experiment.requestTimeoutSeconds, rateLimit: experiment.rateLimit,
                              seed: experiment.nemesis.seed),
            clock: { Int64(clamping: DispatchTime.now().uptimeNanoseconds) })
        let lines = LockedLines()
        let report = try ChaosRunner(experiment: experiment, progress: { lines.append($0) })
            .run(cluster: cluster, workload: workload, command: "test")

        #expect(report.faults.count == 1)
        let fault = try #require(report.faults.first)
        #expect(fault.kind == "kill" && fault.targets == [leaderAtStart])
        #expect(fault.detail.contains("SIGKILL \(leaderAtStart)") && fault.detail.contains("restarted \(leaderAtStart)"))
        let register = try #require(report.analysis.register)
        #expect(register.verdict == "linearizable", "etcd register history not linearizable: \(register.keys.map { "\($0.key): \($0.verdict)" })")
        #expect(report.analysis.totals.ok > 0)
        // Two final reads (one per key), appended after the run.
        let history = try #require(workload.history)
        #expect(history.events.suffix(4).allSatisfy { $0.function == "read" && $0.key != nil })
        #expect(lines.all.contains { $0.contains("final reads done (4 events)") })
        // No stale read with linearizable reads.
        #expect(HistoryAnalysis.staleReads(history, startTime: workload.startTime ?? 0).staleReads == 0)
        #expect(cluster.cluster.supervisor.statuses().allSatisfy { !$0.isRunning })
    }
}

@Suite("Stale reads and write gaps")
struct StaleReadAndGapTests {
    static func op(_ process: Int, _ function: String, _ value: Value, _ result: Value?, _ from: Int64, _ to: Int64?,
                   kind: Event.Kind = .ok) -> [Event] {
        var events = [Event(.invoke, process: process, function: function, key: .string("k"), value: value, time: from * 1_000_000_000)]
        if let to { events.append(Event(kind, process: process, function: function, key: .string("k"), value: result ?? value, time: to * 1_000_000_000)) }
        return events
    }

    @Test("a read of a value overwritten before it began is stale; one that a concurrent write explains is not")
    func staleReadsFound() {
        var events: [Event] = []
        events += Self.op(0, "write", .integer(1), nil, 0, 1)
        events += Self.op(0, "write", .integer(2), nil, 2, 3)
        events += Self.op(1, "read", .null, .integer(1), 5, 6)        // stale: 2 acknowledged at 3, nothing writes 1 after
        events += Self.op(2, "write", .integer(1), nil, 7, nil, kind: .info)   // indeterminate write of 1 from 7 on
        events += Self.op(1, "read", .null, .integer(1), 8, 9)        // explained by the indeterminate write
        events += Self.op(1, "read", .null, .null, 10, 11)            // stale: nothing writes nil
        let history = History(events: events.sorted { ($0.time ?? 0) < ($1.time ?? 0) })
        let analysis = HistoryAnalysis.staleReads(history, startTime: 0,
                                                  faults: [FaultWindow(kind: "partition", targets: ["n2"], start: 4, end: 7, detail: "")])
        #expect(analysis.reads == 3)
        #expect(analysis.staleReads == 2)
        #expect(analysis.duringFaults == 1)
        #expect(analysis.examples.map(\.invokedAt).sorted() == [5, 10])
        let first = analysis.examples.first { $0.invokedAt == 5 }
        #expect(first?.value == "1" && first?.newerValue == "2" && first?.stalenessSeconds == 2)
        // The nil read: the initial nil was overwritten by the write of 1, acknowledged at 1 s.
        #expect(analysis.maximumStalenessSeconds == 9 && analysis.examples.first?.value == "nil")
    }

    @Test("the longest stretch without an acknowledged write is measured from the fault's start to the window's end")
    func writeGaps() {
        var events: [Event] = []
        for (index, second) in [1, 2, 3, 9, 10, 11, 12].enumerated() {
            events += Self.op(index, "add", .integer(Int64(index)), nil, Int64(second), Int64(second))
        }
        let history = History(events: events)
        let gaps = WriteAvailability.gaps(history, startTime: 0,
                                          faults: [FaultWindow(kind: "kill", targets: ["n1"], start: 3.5, end: 6, detail: ""),
                                                   FaultWindow(kind: "kill", targets: ["n1"], start: 12.5, end: 13, detail: "")])
        #expect(gaps.count == 2)
        #expect(gaps[0].longestGapSeconds == 5.5 && gaps[0].gapFrom == 3.5 && gaps[0].gapTo == 9 && gaps[0].writesResumedAt == 5.5)
        // Nothing after the second fault: the gap runs to its window's end (heal + 5 s), writes never resumed.
        #expect(gaps[1].longestGapSeconds == 5.5 && gaps[1].writesResumedAt == nil)
    }
}
