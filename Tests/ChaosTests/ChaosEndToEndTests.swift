// One experiment end to end on a short schedule: real redis-server + three Sentinels behind the fault proxy, a kill, heal, final reads, report.

import Chaos
import FaultInjection
import Foundation
import History
import Testing

@Suite("Chaos end to end")
struct ChaosEndToEndTests {
    static let experimentText = """
    cluster = redis
    replicas = 1
    sentinels = 3
    workload = set
    clients = 2
    keys = 2
    duration = 4s
    rate = 400
    nemesis = kill
    nemesis.target = primary
    nemesis.first = 1s
    nemesis.interval = 3s
    nemesis.fault_duration = 1500ms
    sentinel.down_after = 500ms
    sentinel.failover_timeout = 3s
    settle = 1s
    timelimit = 60s
    """

    @Test("a short kill experiment on Redis + Sentinel records the fault, reads every key back, reports and stops every process")
    func shortKillExperiment() throws {
        for tool in ["redis-server"] {
            #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/\(tool)"),
                    "this test needs /usr/bin/\(tool) (Debian package redis-server)")
        }
        let experiment = try Experiment.parse(Self.experimentText, path: "short.experiment")
        let directory = NSTemporaryDirectory() + "kvlab-chaos-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try LaunchedCluster.launch(experiment, runDirectory: directory, kvlabExecutable: nil)
        defer { cluster.stop() }
        let workload = ConsistencyChaosWorkload(
            kind: .set, clients: experiment.clients, keys: experiment.keys, durationSeconds: experiment.durationSeconds,
            requestTimeoutSeconds: experiment.requestTimeoutSeconds, rateLimit: experiment.rateLimit, seed: experiment.nemesis.seed,
            resolver: PrimaryResolver(sentinels: cluster.sentinelEndpoints, masterName: cluster.masterName))
        let lines = LockedLines()
        let report = try ChaosRunner(experiment: experiment, progress: { lines.append($0) })
            .run(cluster: cluster, workload: workload, command: "test")

        // The schedule: one kill of the primary (n1 at the start), healed by a restart.
        #expect(report.faults.count == 1)
        let fault = try #require(report.faults.first)
        #expect(fault.kind == "kill" && fault.targets == ["n1"] && fault.end != nil)
        #expect(fault.detail.contains("SIGKILL n1") && fault.detail.contains("restarted n1"))
        // Clients ran, and every key was read back after the heal.
        let set = try #require(report.analysis.set)
        #expect(report.analysis.totals.ok > 0)
        #expect(set.keys.count == 2 && set.keys.allSatisfy { $0.finalReadSize != nil })
        #expect(report.analysis.splitBrain.samples > 0)
        #expect(lines.all.contains { $0.contains("final reads done") })
        // Every process the run started is gone.
        #expect(cluster.cluster.supervisor.statuses().allSatisfy { !$0.isRunning })
        // The report renders in all three forms.
        _ = try JSONSerialization.jsonObject(with: Data(try report.json().utf8))
        #expect(report.html().contains("<svg"))
        #expect(report.textSummary().contains("kill n1"))
    }
}

/// Progress lines from the runner's threads.
final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
