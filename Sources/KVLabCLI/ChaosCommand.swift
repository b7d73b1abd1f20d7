// `kvlab chaos EXPERIMENT`: start the cluster, run workload and nemesis, heal, settle, read back, check, report.

import ArgumentParser
import Chaos
import Consistency
import FaultInjection
import Foundation
import History
import KVCore

struct ChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Run a fault-injection experiment against a replicated cluster and report what it shows.",
        discussion: """
        Reads an experiment file (experiments/*.experiment), starts the cluster (kvlab serve \
        nodes with kvlab sentinels, or redis-server with redis-sentinel) behind kvlab's fault \
        proxy on loopback, runs the set or register workload while the nemesis injects faults \
        on its seeded schedule, heals everything, lets the cluster settle, reads every key back, \
        stops every process it started (also on error and Ctrl-C), then checks the history and \
        writes NAME.json and NAME.html into --output and a summary on stdout. Progress goes to \
        stderr. Example:
          kvlab chaos experiments/async-lag-kill.experiment --output results/chaos
        Exit status: 0 the run completed (whatever it found), 2 bad input or the run failed.
        """
    )

    @Argument(help: "The experiment file.")
    var file: String

    @Option(help: "Override the experiment's nemesis.seed (the fault schedule and the workload's choices).")
    var seed: UInt64?

    @Option(help: "Directory for the JSON and HTML reports.")
    var output: String = "results/chaos"

    @Option(help: "Where the cluster's configuration, data and logs go (default: a new directory under the temporary directory).")
    var runDirectory: String?

    @Option(help: "The kvlab executable the nodes and sentinels run (default: this one).")
    var kvlab: String?

    @Flag(help: "Also write the clients' history as NAME.history.jsonl (for `kvlab check`).")
    var saveHistory = false

    func run() throws {
        var experiment: Experiment
        do {
            experiment = try Experiment.load(path: file)
        } catch {
            throw CLIError(message: "kvlab chaos: \(error)", code: 2)
        }
        if let seed { experiment.nemesis.seed = seed }
        let workloadKind: ConsistencyWorkloadConfiguration.Kind
        switch experiment.workload {
        case .set: workloadKind = .set
        case .register: workloadKind = .register
        case .ycsb(let path):
            throw CLIError(message: "kvlab chaos: \(file): workload = \(path): a YCSB workload does not run under the nemesis yet: use register or set", code: 2)
        }
        let directory = runDirectory ?? NSTemporaryDirectory() + "kvlab-chaos-\(experiment.name)-\(getpid())"
        let executable = kvlab ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        // Ctrl-C or SIGTERM: the supervisor kills every child before the process dies.
        ProcessSupervisor.installSignalHandlers()

        let progress: @Sendable (String) -> Void = { Console.error("kvlab chaos: \($0)") }
        let cluster: ChaosCluster
        let workload: ChaosWorkload
        if experiment.cluster == .etcd {
            progress("starting etcd cluster: \(experiment.replicas + 1) members behind the proxy (logs in \(directory))")
            let etcd: EtcdLaunchedCluster
            do {
                etcd = try EtcdLaunchedCluster.launch(experiment, runDirectory: directory)
            } catch {
                throw CLIError(message: "kvlab chaos: \(error)", code: 2)
            }
            cluster = etcd
            workload = EtcdChaosWorkload(kind: workloadKind == .set ? .set : .register, clients: experiment.clients, keys: experiment.keys,
                                         endpoints: etcd.endpoints, requestTimeoutSeconds: experiment.requestTimeoutSeconds,
                                         rateLimit: experiment.rateLimit, seed: experiment.nemesis.seed,
                                         serializableReads: experiment.readConsistency == .serializable,
                                         pinnedClients: experiment.pinnedClients, values: experiment.registerValues)
        } else {
        progress("starting \(experiment.cluster.rawValue) cluster: \(experiment.replicas + 1) nodes, \(experiment.sentinels) sentinels (logs in \(directory))")
        let launched: LaunchedCluster
        do {
            launched = try LaunchedCluster.launch(experiment, runDirectory: directory, kvlabExecutable: executable)
        } catch {
            throw CLIError(message: "kvlab chaos: \(error)", code: 2)
        }
        cluster = launched
        var waitAfterWrite: ConsistencyWorkloadConfiguration.WaitStep?
        if case .wait(let n) = experiment.ack {
            waitAfterWrite = .init(replicas: n, timeoutMilliseconds: experiment.ackTimeoutMilliseconds)
        }
        workload = ConsistencyChaosWorkload(
            kind: workloadKind, clients: experiment.clients, keys: experiment.keys, durationSeconds: experiment.durationSeconds,
            requestTimeoutSeconds: experiment.requestTimeoutSeconds, rateLimit: experiment.rateLimit, seed: experiment.nemesis.seed,
            resolver: PrimaryResolver(sentinels: launched.sentinelEndpoints, masterName: launched.masterName),
            waitAfterWrite: waitAfterWrite)
        }
        defer { cluster.stop() }
        let clock = SystemMonotonicClock()
        let recording = RecordingWorkload(workload, clock: { Int64(clock.nanoseconds()) })
        let command = (["kvlab", "chaos"] + CommandLine.arguments.dropFirst(2)).joined(separator: " ")
        var report: ChaosReport
        do {
            report = try ChaosRunner(experiment: experiment, clock: clock, progress: progress).run(cluster: cluster, workload: recording, command: command)
        } catch {
            throw CLIError(message: "kvlab chaos: \(error) (logs in \(directory))", code: 2)
        }
        if let history = recording.history, let start = recording.startTime {
            report.writeGaps = WriteAvailability.gaps(history, startTime: start, faults: report.faults)
            if case .register = experiment.workload {
                report.staleReads = HistoryAnalysis.staleReads(history, startTime: start, faults: report.faults)
            }
        }
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let base = (output as NSString).appendingPathComponent(experiment.name)
            try report.json().write(toFile: base + ".json", atomically: true, encoding: .utf8)
            try report.html().write(toFile: base + ".html", atomically: true, encoding: .utf8)
            if saveHistory, let history = recording.history {
                try JSONLinesFormat.write(history).write(toFile: base + ".history.jsonl", atomically: true, encoding: .utf8)
            }
            progress("wrote \(base).json and \(base).html")
        } catch {
            throw CLIError(message: "kvlab chaos: cannot write the report into \(output): \(error)", code: 2)
        }
        Console.output(report.textSummary(), terminator: "")
        if let stale = report.staleReads {
            Console.output("stale reads: \(stale.staleReads) of \(stale.reads) ok reads returned a value older than one already acknowledged (\(stale.duringFaults) invoked during a fault; stalest \(stale.maximumStalenessSeconds) s)")
            for r in stale.examples.prefix(4) {
                Console.output("  p\(r.process) read \(r.key) -> \(r.value) at t=\(r.invokedAt)..\(r.completedAt) s, though \(r.newerValue) was acknowledged at t=\(r.newerAcknowledgedAt) s (\(r.stalenessSeconds) s earlier)")
            }
        }
        for gap in report.writeGaps ?? [] {
            Console.output("  \(gap.kind) at t=\(gap.start) s: longest stretch without an acknowledged write \(gap.longestGapSeconds) s (t=\(gap.gapFrom)..\(gap.gapTo))")
        }
    }
}
