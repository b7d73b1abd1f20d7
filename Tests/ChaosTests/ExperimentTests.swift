// Experiment files: every key parsed, every wrong value reported with file, line and expectation.

import Chaos
import Foundation
import Testing

@Suite("Chaos experiment files")
struct ExperimentTests {
    @Test("a complete experiment file parses into its settings")
    func parsesEverySetting() throws {
        let text = """
        # async replication, lag, then the primary dies
        cluster = kvlab
        engine = skiplist
        replicas = 2
        sentinels = 3
        ack = sync 2
        ack.timeout = 250ms
        fencing = min-replicas 1 2
        workload = set
        clients = 6
        keys = 3
        duration = 30s
        nemesis = lag-replication+kill, partition-isolate-node
        nemesis.interval = 10s
        nemesis.fault_duration = 4s
        nemesis.seed = 42
        nemesis.lag = 800ms
        settle = 3s
        timelimit = 2m
        check.timelimit = 30s
        check.max_memory = 512M
        """
        let experiment = try Experiment.parse(text, path: "experiments/demo.experiment")
        #expect(experiment.name == "demo")
        #expect(experiment.cluster == .kvlab && experiment.engine == "skiplist")
        #expect(experiment.ack == .sync(replicas: 2) && experiment.ackTimeoutMilliseconds == 250)
        #expect(experiment.fencing == Experiment.Fencing(minReplicas: 1, maxLagSeconds: 2))
        #expect(experiment.workload == .set && experiment.clients == 6 && experiment.keys == 3)
        #expect(experiment.durationSeconds == 30 && experiment.settleSeconds == 3 && experiment.timeLimitSeconds == 120)
        #expect(experiment.nemesis.kinds == [.lagThenKill, .partitionIsolateNode])
        #expect(experiment.nemesis.seed == 42 && experiment.nemesis.lagMilliseconds == 800)
        #expect(experiment.checkMaximumMemoryBytes == 512 << 20)
    }

    @Test("an unknown key is an error naming the file and line")
    func unknownKeyIsAnError() {
        #expect(throws: ChaosError.invalidProperty(path: "x.experiment", line: 2, key: "replica", found: "2",
                                                   expected: "a known key: " + Experiment.knownKeys.map(\.key).joined(separator: ", "))) {
            try Experiment.parse("workload = set\nreplica = 2\n", path: "x.experiment")
        }
    }

    @Test("wrong values name their key, line and what was expected", arguments: [
        ("ack = sync 5", "ack"), ("ack = quorum", "ack"), ("fencing = min-replicas x 2", "fencing"),
        ("nemesis = kill,explode", "nemesis"), ("duration = soon", "duration"), ("clients = 0", "clients"),
        ("nemesis.fault_duration = 20s", "nemesis.fault_duration"), ("cluster = zookeeper", "cluster"), ("read.consistency = eventual", "read.consistency"),
    ])
    func wrongValues(line: String, key: String) throws {
        do {
            _ = try Experiment.parse("workload = set\nreplicas = 2\n\(line)\n", path: "bad.experiment")
            Issue.record("\(line) was accepted")
        } catch {
            guard case .invalidProperty(let path, let at, let named, _, let expected) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(path == "bad.experiment" && at == 3 && named == key && !expected.isEmpty)
        }
    }

    @Test("appendfsync and the disk-fault kinds parse for kvlab nodes on lsm or btree")
    func diskFaultKeys() throws {
        let text = """
        cluster = kvlab
        engine = lsm
        appendfsync = always
        replicas = 1
        workload = set
        nemesis = disk-full, disk-fsync-error
        """
        let experiment = try Experiment.parse(text, path: "disk.experiment")
        #expect(experiment.appendfsync == "always")
        #expect(experiment.nemesis.kinds == [.diskFull, .diskFsyncError])
        #expect(experiment.hasDiskFaults && experiment.persistentNodes)
        // Without appendfsync a disk fault still makes the nodes keep files; with neither, they do not.
        let plain = try Experiment.parse("engine = btree\nreplicas = 0\nworkload = set\nnemesis = disk-full\n", path: "p.experiment")
        #expect(plain.appendfsync == nil && plain.persistentNodes)
        #expect(!(try Experiment.parse("engine = lsm\nworkload = set\n", path: "q.experiment")).persistentNodes)
    }

    @Test("disk faults and appendfsync are refused for Redis and in-memory engines, naming file, line and why", arguments: [
        ("cluster = redis\nworkload = set\nnemesis = kill, disk-full\n", "nemesis", 3, "redis-server has no fault-injecting file layer"),
        ("engine = hash\nworkload = set\nnemesis = disk-fsync-error\n", "nemesis", 3, "hash and skiplist keep no files"),
        ("engine = skiplist\nappendfsync = always\nworkload = set\n", "appendfsync", 2, "engine = lsm or btree"),
        ("engine = lsm\nappendfsync = sometimes\nworkload = set\n", "appendfsync", 2, "always, everysec or no"),
        ("cluster = redis\nengine = lsm\nappendfsync = always\nworkload = set\n", "appendfsync", 3, "cluster = kvlab"),
    ])
    func diskFaultRefusals(text: String, key: String, line: Int, reason: String) {
        do {
            _ = try Experiment.parse(text, path: "bad.experiment")
            Issue.record("accepted: \(text)")
        } catch {
            guard case .invalidProperty(let path, let at, let named, _, let expected) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(path == "bad.experiment" && at == line && named == key)
            #expect(expected.contains(reason), "\(expected)")
            #expect(error.description.hasPrefix("bad.experiment:\(line): \(key) = "))
        }
    }

    @Test("the workload is required")
    func workloadIsRequired() {
        #expect(throws: ChaosError.missingProperty(path: "y.experiment", key: "workload",
                                                   expected: "register, set or a YCSB workload file")) {
            try Experiment.parse("cluster = redis\n", path: "y.experiment")
        }
    }

    @Test("durations take ms, s and m, and a bare number is seconds")
    func durations() {
        #expect(Experiment.parseDuration("500ms") == 0.5)
        #expect(Experiment.parseDuration("2s") == 2)
        #expect(Experiment.parseDuration("1.5m") == 90)
        #expect(Experiment.parseDuration("7") == 7)
        #expect(Experiment.parseDuration("-1s") == nil)
        #expect(Experiment.parseDuration("s") == nil)
    }

    @Test("every experiment shipped in experiments/ parses")
    func shippedExperimentsParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = root.appendingPathComponent("experiments")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".experiment") }.sorted()
        #expect(names.count >= 7)
        for name in names {
            let experiment = try Experiment.load(path: directory.appendingPathComponent(name).path)
            #expect(experiment.name + ".experiment" == name)
        }
    }
}
