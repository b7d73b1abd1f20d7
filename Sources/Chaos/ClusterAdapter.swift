// The chaos run loop's cluster: FaultInjection's launcher (kvlab or Redis + Sentinel behind the fault proxy), faults and heals.

import FaultInjection
import Foundation
import KVClient
import Synchronization

/// A `RunningCluster` as the run loop sees it: the experiment's faults mapped onto the
/// cluster's nemesis hooks, with what is active remembered so `healAll()` undoes exactly that.
public final class LaunchedCluster: ChaosCluster, @unchecked Sendable {
    public let cluster: RunningCluster
    private let active = Mutex<(killed: Set<String>, paused: Set<String>, network: Bool, disks: Set<String>)>(([], [], false, []))

    init(_ cluster: RunningCluster) { self.cluster = cluster }

    /// The node arguments an experiment's acknowledgement mode and fencing call for.
    public static func nodeArguments(_ e: Experiment) -> [String] {
        var arguments: [String] = []
        switch (e.cluster, e.ack) {
        case (.kvlab, .sync(let n)):
            arguments += ["--repl-ack", "sync", "--sync-replicas", String(n), "--sync-timeout", String(e.ackTimeoutMilliseconds)]
        default: break
        }
        if e.cluster == .kvlab, let appendfsync = e.appendfsync { arguments += ["--appendfsync", appendfsync] }
        if let fencing = e.fencing {
            arguments += ["--min-replicas-to-write", String(fencing.minReplicas),
                          "--min-replicas-max-lag", String(fencing.maxLagSeconds)]
        }
        return arguments
    }

    /// Starts the experiment's cluster under `runDirectory` and waits until it is ready.
    /// - Parameters:
    ///   - kvlabExecutable: the `kvlab` binary for kvlab nodes and sentinels.
    /// - Throws: `ChaosError.runFailed` naming what did not start (a missing tool included).
    public static func launch(_ e: Experiment, runDirectory: String, kvlabExecutable: String?) throws(ChaosError) -> LaunchedCluster {
        if e.cluster == .redis, case .sync = e.ack {
            throw .runFailed(stage: "starting the cluster", reason: "Redis has no synchronous replication: use ack = wait N")
        }
        let configuration = ClusterConfiguration(
            kind: e.cluster == .kvlab ? .kvlab : .redis, replicas: e.replicas, sentinels: max(1, e.sentinels), engine: e.engine,
            runDirectory: runDirectory, downAfterMilliseconds: e.downAfterMilliseconds,
            failoverTimeoutMilliseconds: e.failoverTimeoutMilliseconds, extraNodeArguments: nodeArguments(e),
            kvlabExecutable: kvlabExecutable, persistentData: e.cluster == .kvlab && e.persistentNodes,
            diskFaults: e.hasDiskFaults)
        do {
            return LaunchedCluster(try ClusterLauncher.start(configuration))
        } catch {
            throw .runFailed(stage: "starting the cluster", reason: "\(error)")
        }
    }

    /// The sentinels' public addresses (what clients ask for the primary).
    public var sentinelEndpoints: [RedisEndpoint] { cluster.sentinels.map(\.publicEndpoint) }
    /// The name the sentinels monitor.
    public var masterName: String { cluster.configuration.masterName }
    /// The public address of a node.
    public func endpoint(of node: String) -> RedisEndpoint? { cluster.member(node)?.publicEndpoint }

    public var nodes: [String] { cluster.nodeNames }

    public func primaryNode() -> String? { cluster.currentPrimary() }

    public func roles() -> [String: Bool] {
        var result: [String: Bool] = [:]
        for node in cluster.nodes {
            if let role = cluster.role(of: node) { result[node.name] = role == "master" }
        }
        return result
    }

    public func inject(_ fault: Experiment.FaultKind, target: String, lagMilliseconds: Int) throws -> String {
        let others = nodes.filter { $0 != target }
        switch fault {
        case .kill:
            try cluster.kill(node: target)
            active.withLock { _ = $0.killed.insert(target) }
            return "SIGKILL \(target)"
        case .pause:
            try cluster.pause(node: target)
            active.withLock { _ = $0.paused.insert(target) }
            return "SIGSTOP \(target)"
        case .partitionIsolateNode, .partitionPrimaryMinority:
            // With the target alone on its side (and its sentinel, as the launcher places
            // sentinels with their nodes), the target's side is a minority. Clients, on
            // 127.0.0.1, are in no group: they still reach both sides.
            active.withLock { $0.network = true }
            try cluster.partition([[target], others])
            return "partition \(target) | \(others.joined(separator: " ")) (blackhole; sentinel s1.. stand with n1..; clients reach both sides)"
        case .partitionMajoritySplit:
            let minority = [target] + others.prefix(max(0, (nodes.count - 1) / 2 - 1))
            let majority = nodes.filter { !minority.contains($0) }
            active.withLock { $0.network = true }
            try cluster.partition([minority, majority])
            return "partition \(minority.joined(separator: " ")) | \(majority.joined(separator: " ")) (blackhole)"
        case .lagReplication:
            active.withLock { $0.network = true }
            try cluster.setReplicationDelay(milliseconds: lagMilliseconds)
            return "delay \(lagMilliseconds) ms on every node-to-node link"
        case .lagThenKill:
            // The second step of lag-then-kill (the run loop sets the lag first): the primary
            // dies with its replicas behind. The bytes the delay still holds in the proxy would
            // reach the replicas after the kill (a network delivers what is in flight), so the
            // replication links to the target are reset first, discarding them, as if the
            // primary had died before sending them.
            var changes: [ProxyLink: LinkFault?] = [:]
            for member in cluster.nodes where member.name != target {
                changes[ProxyLink(source: member.partyAddress, destination: target)] = .drop
            }
            active.withLock { $0.network = true }
            try cluster.proxy.setFaults(changes)
            try cluster.kill(node: target)
            active.withLock { _ = $0.killed.insert(target) }
            return "replication links to \(target) reset (in-flight bytes discarded), SIGKILL \(target)"
        case .diskFsyncError, .diskFull:
            let diskFault: NemesisDiskFault = fault == .diskFull ? .diskFull : .fsyncError
            // Remembered first: a switch that failed half-way is still cleared by the heal.
            active.withLock { _ = $0.disks.insert(target) }
            try cluster.setDiskFault(node: target, diskFault)
            return "DEBUG DISKFAULT \(diskFault.rawValue) on \(target)"
        }
    }

    public func healAll() throws -> String {
        let (killed, paused, network, disks) = active.withLock { state in
            defer { state = ([], [], false, []) }
            return (state.killed.sorted(), state.paused.sorted(), state.network, state.disks.sorted())
        }
        var done: [String] = []
        var failures: [String] = []
        for node in disks {
            do { done.append(try cluster.healDiskFault(node: node)) } catch { failures.append("disk of \(node): \(error)") }
        }
        if network {
            do {
                try cluster.setReplicationDelay(milliseconds: 0)
                try cluster.healNetwork()
                done.append("network healed")
            } catch { failures.append("network: \(error)") }
        }
        for node in paused {
            do { try cluster.resume(node: node); done.append("SIGCONT \(node)") } catch { failures.append("resume \(node): \(error)") }
        }
        for node in killed {
            do { try cluster.restart(node: node); done.append("restarted \(node)") } catch { failures.append("restart \(node): \(error)") }
        }
        if !failures.isEmpty {
            throw ChaosError.runFailed(stage: "healing", reason: failures.joined(separator: "; "))
        }
        return done.isEmpty ? "nothing to heal" : done.joined(separator: ", ")
    }

    public func stop() { cluster.stop() }
}
