// The nemesis against a real cluster: a kill of the primary and a replication lag, healed, on redis.

import Foundation
import Testing
@testable import FaultInjection

@Suite("Nemesis on a cluster")
struct NemesisClusterTests {
    @Test("a nemesis run on a redis cluster kills and restarts the primary, lags replication, and ends with every node up")
    func killAndLag() throws {
        let directory = temporaryRunDirectory("nemesis-redis")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try ClusterLauncher.start(ClusterConfiguration(kind: .redis, replicas: 2, sentinels: 3, runDirectory: directory,
                                                                     downAfterMilliseconds: 1000, failoverTimeoutMilliseconds: 2000))
        defer { cluster.stop() }
        let schedule = try NemesisSchedule(NemesisConfiguration(seed: 4, intervalSeconds: 1.5, holdSeconds: 1,
                                                                kinds: [.kill, .replicationLag], nodes: cluster.nodeNames,
                                                                target: .primary, durationSeconds: 6, lagMilliseconds: 200))
        #expect(schedule.steps.count == 3)
        let nemesis = Nemesis(schedule: schedule, hooks: cluster)
        nemesis.run()
        let timeline = nemesis.timeline
        #expect(timeline.filter { $0.phase == .error }.isEmpty, "\(timeline)")
        #expect(timeline.filter { $0.phase == .start }.map(\.kind) == schedule.steps.map(\.fault.kind))
        for event in timeline where event.phase == .start && event.kind == .kill {
            #expect(event.targets.count == 1 && cluster.nodeNames.contains(event.targets[0]))
        }
        // Healed: every node process runs again and no link keeps a fault.
        #expect(cluster.supervisor.statuses().allSatisfy { $0.isRunning })
        #expect(try cluster.proxy.currentFaults().isEmpty)
        for node in cluster.nodes { #expect(eventually(seconds: 20) { cluster.role(of: node) != nil }, "\(node.name) does not answer") }
    }
}
