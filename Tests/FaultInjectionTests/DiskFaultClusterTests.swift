// Disk faults on a launched kvlab cluster: a full disk under an lsm primary refuses writes, the heal brings it back, and no acknowledged write is lost.

import Foundation
import KVClient
import RESP
import Testing
@testable import FaultInjection

@Suite("Disk faults on a cluster", .serialized)
struct DiskFaultClusterTests {
    /// One command to the node's public address; the reply (errors included) or nil if it did not answer.
    static func send(_ cluster: RunningCluster, _ node: ClusterMember, _ arguments: [String]) -> RESPValue? {
        guard let connection = try? RESPConnection(endpoint: node.publicEndpoint, timeoutSeconds: 5, connectTimeoutSeconds: 5) else { return nil }
        defer { connection.close() }
        return try? connection.call(arguments)
    }

    @Test("disk-full on an lsm primary (appendfsync always) turns writes into errors, the heal restores them, and every OK write survives the restarts")
    func diskFullOnPrimary() throws {
        let directory = temporaryRunDirectory("diskfault-cluster")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // No replica: the sentinel has nobody to promote, so n1 stays primary through the restarts.
        let cluster = try ClusterLauncher.start(ClusterConfiguration(
            kind: .kvlab, replicas: 0, sentinels: 1, engine: "lsm", runDirectory: directory, downAfterMilliseconds: 5000,
            extraNodeArguments: ["--appendfsync", "always", "--threads", "1"], kvlabExecutable: kvlabExecutable, diskFaults: true))
        defer { cluster.stop() }
        let primary = try #require(cluster.member("n1"))
        #expect(cluster.replicationField(primary, "role") == "master")
        #expect(FileManager.default.fileExists(atPath: directory + "/n1/db"), "n1 keeps no files under its run directory")

        var acknowledged: [Int] = []
        func write(_ n: Int) -> RESPValue? {
            let reply = Self.send(cluster, primary, ["SET", "k\(n)", "v\(n)"])
            if reply?.text == "OK" && reply?.isError == false { acknowledged.append(n) }
            return reply
        }
        for n in 0..<10 { #expect(write(n)?.text == "OK") }

        try cluster.setDiskFault(node: "n1", .diskFull)
        #expect(Self.send(cluster, primary, ["INFO", "persistence"])?.text?.contains("kvlab_disk_fault:disk-full") == true)
        for n in 10..<15 {
            let reply = write(n)
            #expect(reply?.isError == true && reply?.text?.hasPrefix("IOERR") == true,
                    "a write on a full disk was answered \(String(describing: reply))")
        }

        let healed = try cluster.healDiskFault(node: "n1")
        #expect(healed.contains("DEBUG DISKFAULT none on n1") && healed.contains("restarted n1"), "\(healed)")
        #expect(Self.send(cluster, primary, ["INFO", "persistence"])?.text?.contains("kvlab_disk_fault:none") == true)
        for n in 15..<20 { #expect(write(n)?.text == "OK", "a write after the heal was refused") }

        // A clean heal (no write while the fault was on) needs no restart.
        try cluster.setDiskFault(node: "n1", .fsyncError)
        #expect(try cluster.healDiskFault(node: "n1") == "DEBUG DISKFAULT none on n1")

        try cluster.restart(node: "n1")
        for n in acknowledged {
            #expect(Self.send(cluster, primary, ["GET", "k\(n)"])?.text == "v\(n)", "acknowledged write k\(n) lost")
        }
        #expect(acknowledged.count == 15)
    }

    @Test("disk faults are refused for Redis clusters and in-memory engines before anything starts",
          arguments: [(ClusterKind.redis, "lsm", "redis-server has no fault-injecting file layer"),
                      (ClusterKind.kvlab, "hash", "engine hash keeps its data in memory")])
    func refusedWithoutAFaultLayer(kind: ClusterKind, engine: String, reason: String) {
        let directory = temporaryRunDirectory("diskfault-refused")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let cluster = try ClusterLauncher.start(ClusterConfiguration(kind: kind, replicas: 1, sentinels: 1, engine: engine,
                                                                         runDirectory: directory, kvlabExecutable: kvlabExecutable,
                                                                         diskFaults: true))
            cluster.stop()
            Issue.record("a \(kind) cluster on \(engine) started with disk faults")
        } catch {
            #expect("\(error)".contains(reason), "\(error)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/n1.log"), "a process was started")
        }
    }
}
