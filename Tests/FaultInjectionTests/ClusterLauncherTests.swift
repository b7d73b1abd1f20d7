// Real redis-server + redis-sentinel behind the fault proxy: failover on isolation, rejoin on heal, nothing left running.

import Foundation
import KVClient
import RESP
import Testing
@testable import FaultInjection

@Suite("ClusterLauncher")
struct ClusterLauncherTests {
    @Test("redis sentinels promote a replica when the primary is isolated, and the old primary rejoins as a replica after heal")
    func redisFailover() throws {
        let directory = temporaryRunDirectory("cluster-redis")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cluster = try ClusterLauncher.start(ClusterConfiguration(kind: .redis, replicas: 2, sentinels: 3, runDirectory: directory,
                                                                     downAfterMilliseconds: 1000, failoverTimeoutMilliseconds: 2000))
        var pids: [Int32] = []
        defer {
            cluster.stop()
            for pid in pids { #expect(isGone(pid), "pid \(pid) outlived the cluster") }
        }
        pids = cluster.supervisor.statuses().map(\.pid)
        #expect(pids.count == 6)
        let old = try #require(cluster.currentPrimaryMember())
        #expect(old.name == "n1")

        // Replication flows through the proxy: a write on the primary reaches both replicas.
        #expect(cluster.call(old, ["SET", "k", "v1"])?.text == "OK")
        for replica in cluster.nodes.dropFirst() {
            #expect(eventually { cluster.call(replica, ["GET", "k"])?.text == "v1" }, "\(replica.name) did not replicate")
        }
        // The replicas announced the proxy's public addresses, so the primary lists those.
        let slave0 = cluster.replicationField(old, "slave0") ?? ""
        #expect(slave0.contains("ip=127.0.0.1"))
        #expect(cluster.nodes.dropFirst().contains { slave0.contains("port=\($0.publicEndpoint.port)") })

        try cluster.partition([["n1"], ["n2", "n3"]])
        var promoted: ClusterMember?
        #expect(eventually(seconds: 40) {
            promoted = cluster.currentPrimaryMember()
            return promoted != nil && promoted?.name != "n1"
        }, "no replica was promoted; sentinel log: \(cluster.supervisor.logTail("s2"))")
        let newPrimary = try #require(promoted)

        try cluster.healNetwork()
        #expect(eventually(seconds: 40) {
            cluster.role(of: old) == "slave" && cluster.replicationField(old, "master_port") == String(newPrimary.publicEndpoint.port)
                && cluster.replicationField(old, "master_link_status") == "up"
        }, "the old primary did not rejoin; its log: \(cluster.supervisor.logTail("n1"))")
        #expect(cluster.currentPrimary() == newPrimary.name)
    }

    @Test("a cluster description that cannot be started is a typed error")
    func invalid() {
        #expect(throws: FaultInjectionError.self) {
            try ClusterLauncher.start(ClusterConfiguration(kind: .redis, sentinels: 0, runDirectory: temporaryRunDirectory("cluster-invalid")))
        }
        #expect(throws: FaultInjectionError.self) {
            try ClusterLauncher.start(ClusterConfiguration(kind: .kvlab, replicas: 1, sentinels: 1, runDirectory: temporaryRunDirectory("cluster-nokvlab")))
        }
    }
}
