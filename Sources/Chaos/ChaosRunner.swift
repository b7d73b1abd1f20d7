// The run loop of `kvlab chaos`: cluster up, workload and nemesis together, heal, settle, final reads, everything stopped, checked, reported.

import Foundation
import History
import KVCore
import Synchronization

/// What the run loop needs from a cluster: kvlab or Redis nodes and sentinels, every link
/// through the fault proxy. Implementations stop every process they started in `stop()`.
public protocol ChaosCluster: AnyObject, Sendable {
    /// The nodes' names (`n1`, `n2`, ...), primary first at start.
    var nodes: [String] { get }
    /// The primary as the sentinels name it now (nil: none known, or no sentinels).
    func primaryNode() -> String?
    /// Each node's role, asked directly (not through the proxy): true primary, false replica;
    /// absent when the node does not answer.
    func roles() -> [String: Bool]
    /// Starts one fault on `target`; returns what was done, for the timeline.
    func inject(_ fault: Experiment.FaultKind, target: String, lagMilliseconds: Int) throws -> String
    /// Heals everything: links restored, paused processes resumed, killed ones restarted.
    func healAll() throws -> String
    /// Stops every process the cluster started (idempotent).
    func stop()
}

/// What the run loop needs from the clients: a history-recording workload against the
/// cluster's current primary.
public protocol ChaosWorkload: AnyObject, Sendable {
    /// Runs the clients until `stop()` returns true; returns their history.
    func run(stop: @escaping @Sendable () -> Bool) throws -> History
    /// Reads every key once more (after the heal), returning `history` with those reads appended.
    func finalReads(appendingTo history: History) throws -> History
}

/// Runs one experiment and builds its report.
public final class ChaosRunner: @unchecked Sendable {
    public let experiment: Experiment
    let clock: any MonotonicClock
    let progress: @Sendable (String) -> Void

    /// - Parameters:
    ///   - progress: called with one line at each stage and fault (the CLI prints them on stderr).
    public init(experiment: Experiment, clock: any MonotonicClock = SystemMonotonicClock(),
                progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.experiment = experiment
        self.clock = clock
        self.progress = progress
    }

    /// A time in seconds with one decimal, for progress lines.
    func tenths(_ seconds: Double) -> String { String((seconds * 10).rounded() / 10) }

    /// Seconds since `start` on the runner's clock.
    func elapsed(since start: UInt64) -> Double { Double(clock.nanoseconds() &- start) / 1e9 }

    /// Sleeps until `deadline` seconds after `start`, in short steps so `cancelled` is seen
    /// promptly; returns false if cancelled first.
    func sleep(until deadline: Double, since start: UInt64, cancelled: () -> Bool) -> Bool {
        while elapsed(since: start) < deadline {
            if cancelled() { return false }
            Thread.sleep(forTimeInterval: min(0.05, max(0.001, deadline - elapsed(since: start))))
        }
        return !cancelled()
    }

    /// Runs the experiment on `cluster` (already started) with `workload`, then stops the
    /// cluster, whatever happens.
    /// - Parameters:
    ///   - command: the command line, for the report.
    /// - Throws: `ChaosError` when the workload fails outright or the time limit passes; the
    ///   cluster is stopped either way.
    public func run(cluster: ChaosCluster, workload: ChaosWorkload, command: String) throws -> ChaosReport {
        defer { cluster.stop() }
        let e = experiment
        let wallStart = Date()
        let start = clock.nanoseconds()
        let timeLimit = e.timeLimitSeconds
        let done = Atomic<Bool>(false)
        let overtime = Atomic<Bool>(false)
        let samples = Mutex<[RoleSample]>([])
        let faults = Mutex<[FaultWindow]>([])
        let notes = Mutex<[String]>([])
        let finished = DispatchGroup()

        // Role sampler: who says it is primary, every 250 ms, for split-brain evidence.
        finished.enter()
        Thread { [self] in
            defer { finished.leave() }
            while !done.load(ordering: .relaxed) {
                let time = Int64(clock.nanoseconds())
                let roles = cluster.roles()
                samples.withLock { list in
                    for node in cluster.nodes {
                        // A node that does not answer (killed, paused) accepts no writes: not a primary now.
                        list.append(RoleSample(time: time, node: node, isPrimary: roles[node] ?? false))
                    }
                }
                _ = sleep(until: elapsed(since: start) + 0.25, since: start) { done.load(ordering: .relaxed) }
            }
        }.start()

        // Watchdog: past the time limit, stop the cluster so every blocked client returns.
        finished.enter()
        Thread { [self] in
            defer { finished.leave() }
            if sleep(until: timeLimit, since: start, cancelled: { done.load(ordering: .relaxed) }) {
                overtime.store(true, ordering: .relaxed)
                progress("time limit of \(timeLimit) s reached: stopping the cluster")
                cluster.stop()
            }
        }.start()

        // Nemesis: the seeded plan, each fault started and healed on time.
        let plan = FaultSchedule.plan(e.nemesis, duration: e.durationSeconds)
        let workloadOver = Atomic<Bool>(false)
        // The final heal waits for the nemesis: healing while it is still injecting or healing
        // could find "nothing to heal" and start the settle and final reads before the fault ends.
        let nemesisDone = DispatchGroup()
        finished.enter()
        nemesisDone.enter()
        Thread { [self] in
            defer { finished.leave(); nemesisDone.leave() }
            let cancelled = { workloadOver.load(ordering: .relaxed) || done.load(ordering: .relaxed) }
            for fault in plan {
                guard sleep(until: fault.start, since: start, cancelled: cancelled) else { return }
                let target = chooseTarget(fault, cluster: cluster)
                let started = elapsed(since: start)
                var detail: String
                do {
                    if fault.kind == .lagThenKill {
                        detail = try cluster.inject(.lagReplication, target: target, lagMilliseconds: e.nemesis.lagMilliseconds)
                        progress("t=\(tenths(started)) s: lag-replication on \(target): \(detail)")
                        _ = sleep(until: fault.start + (fault.end - fault.start) / 2, since: start, cancelled: cancelled)
                        detail += "; then at t=\(HistoryAnalysis.round3(elapsed(since: start))) s: "
                            + (try cluster.inject(.lagThenKill, target: target, lagMilliseconds: e.nemesis.lagMilliseconds))
                    } else {
                        detail = try cluster.inject(fault.kind, target: target, lagMilliseconds: e.nemesis.lagMilliseconds)
                    }
                } catch {
                    detail = "failed: \(error)"
                    notes.withLock { $0.append("fault \(fault.kind.rawValue) on \(target) at t=\(HistoryAnalysis.round3(started)) s failed: \(error)") }
                }
                progress("t=\(tenths(started)) s: fault \(fault.kind.rawValue) on \(target): \(detail)")
                let index = faults.withLock { list in
                    list.append(FaultWindow(kind: fault.kind.rawValue, targets: [target], start: HistoryAnalysis.round3(started),
                                            end: nil, detail: detail))
                    return list.count - 1
                }
                // Cut short when the workload is over: the heal then comes at once.
                _ = sleep(until: fault.end, since: start, cancelled: cancelled)
                let healed: String
                do { healed = try cluster.healAll() } catch { healed = "heal failed: \(error)" }
                let healedAt = HistoryAnalysis.round3(elapsed(since: start))
                faults.withLock { $0[index].end = healedAt; $0[index].detail += "; healed: \(healed)" }
                progress("t=\(tenths(healedAt)) s: healed (\(healed))")
            }
        }.start()

        progress("workload \(e.workload) with \(e.clients) clients for \(e.durationSeconds) s, \(plan.count) planned faults")
        var history: History
        var failure: Error?
        do {
            history = try workload.run(stop: { [self] in
                elapsed(since: start) >= e.durationSeconds || overtime.load(ordering: .relaxed)
            })
        } catch {
            history = History()
            failure = error
        }
        workloadOver.store(true, ordering: .relaxed)
        nemesisDone.wait()
        // Heal everything, let the cluster settle, then read back.
        if !overtime.load(ordering: .relaxed) {
            do {
                let healed = try cluster.healAll()
                progress("t=\(tenths(elapsed(since: start))) s: workload over; healed all (\(healed)); settling \(e.settleSeconds) s")
            } catch {
                notes.withLock { $0.append("final heal failed: \(error)") }
            }
            _ = sleep(until: elapsed(since: start) + e.settleSeconds, since: start) { overtime.load(ordering: .relaxed) }
            if failure == nil {
                do {
                    let before = history.events.count
                    history = try workload.finalReads(appendingTo: history)
                    progress("t=\(tenths(elapsed(since: start))) s: final reads done (\(history.events.count - before) events)")
                } catch {
                    notes.withLock { $0.append("final reads failed: \(error)") }
                }
            }
        }
        let runSeconds = HistoryAnalysis.round3(elapsed(since: start))
        done.store(true, ordering: .relaxed)
        cluster.stop()
        finished.wait()
        if let failure { throw ChaosError.runFailed(stage: "running the workload", reason: "\(failure)") }
        if overtime.load(ordering: .relaxed) { throw ChaosError.timeLimitExceeded(stage: "running", limitSeconds: timeLimit) }

        progress("checking \(history.events.count) events")
        let workloadKind: AnalysedWorkload = switch e.workload {
        case .set: .set
        case .register: .register
        case .ycsb: .other
        }
        let analysis: ChaosAnalysis
        do {
            analysis = try HistoryAnalysis.analyse(
                history, startTime: Int64(start), workload: workloadKind, faults: faults.withLock { $0 },
                roles: samples.withLock { $0 },
                options: AnalysisOptions(checkTimeLimitSeconds: e.checkTimeLimitSeconds,
                                         checkMaximumMemoryBytes: e.checkMaximumMemoryBytes))
        } catch {
            throw ChaosError.runFailed(stage: "checking the history", reason: "\(error)")
        }
        let formatter = ISO8601DateFormatter()
        return ChaosReport(experiment: ExperimentSummary(e), command: command, startedAt: formatter.string(from: wallStart),
                           runSeconds: runSeconds, faults: faults.withLock { $0 }, analysis: analysis,
                           notes: notes.withLock { $0 })
    }

    /// The node a fault hits: the primary now (the first node if none is known), or a node or
    /// replica picked by the plan's index.
    func chooseTarget(_ fault: PlannedFault, cluster: ChaosCluster) -> String {
        let nodes = cluster.nodes
        let primary = cluster.primaryNode() ?? cluster.roles().filter(\.value).map(\.key).sorted().first ?? nodes[0]
        switch fault.target {
        case .primary: return primary
        case .random: return nodes[fault.pick % nodes.count]
        case .replica:
            let replicas = nodes.filter { $0 != primary }
            return replicas.isEmpty ? primary : replicas[fault.pick % replicas.count]
        }
    }
}

extension HistoryAnalysis {
    /// Rounded to the millisecond, for reports.
    public static func round3(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
}
