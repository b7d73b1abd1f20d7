// `kvlab chaos EXPERIMENT`: start the cluster, run workload and nemesis, heal, settle, read back, check, report.

import ArgumentParser
import Chaos
import Consistency
import FaultInjection
import Foundation

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
        progress("starting \(experiment.cluster.rawValue) cluster: \(experiment.replicas + 1) nodes, \(experiment.sentinels) sentinels (logs in \(directory))")
        let cluster: LaunchedCluster
        do {
            cluster = try LaunchedCluster.launch(experiment, runDirectory: directory, kvlabExecutable: executable)
        } catch {
            throw CLIError(message: "kvlab chaos: \(error)", code: 2)
        }
        defer { cluster.stop() }
        var waitAfterWrite: ConsistencyWorkloadConfiguration.WaitStep?
        if case .wait(let n) = experiment.ack {
            waitAfterWrite = .init(replicas: n, timeoutMilliseconds: experiment.ackTimeoutMilliseconds)
        }
        let workload = ConsistencyChaosWorkload(
            kind: workloadKind, clients: experiment.clients, keys: experiment.keys, durationSeconds: experiment.durationSeconds,
            requestTimeoutSeconds: experiment.requestTimeoutSeconds, rateLimit: experiment.rateLimit, seed: experiment.nemesis.seed,
            resolver: PrimaryResolver(sentinels: cluster.sentinelEndpoints, masterName: cluster.masterName),
            waitAfterWrite: waitAfterWrite)
        let command = (["kvlab", "chaos"] + CommandLine.arguments.dropFirst(2)).joined(separator: " ")
        let report: ChaosReport
        do {
            report = try ChaosRunner(experiment: experiment, progress: progress).run(cluster: cluster, workload: workload, command: command)
        } catch {
            throw CLIError(message: "kvlab chaos: \(error) (logs in \(directory))", code: 2)
        }
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let base = (output as NSString).appendingPathComponent(experiment.name)
            try report.json().write(toFile: base + ".json", atomically: true, encoding: .utf8)
            try report.html().write(toFile: base + ".html", atomically: true, encoding: .utf8)
            progress("wrote \(base).json and \(base).html")
        } catch {
            throw CLIError(message: "kvlab chaos: cannot write the report into \(output): \(error)", code: 2)
        }
        Console.output(report.textSummary(), terminator: "")
    }
}
