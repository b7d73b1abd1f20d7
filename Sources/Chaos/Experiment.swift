// An experiment file (`experiments/*.experiment`): which cluster, which workload, which faults, how long.

import Workload

/// One chaos experiment, as read from a Java-properties file like the YCSB workloads.
///
/// ```
/// cluster = kvlab            # kvlab | redis
/// engine = hash              # kvlab's engine on every node
/// appendfsync = always       # lsm/btree nodes keep files (always | everysec | no)
/// replicas = 2
/// sentinels = 3
/// ack = async                # async | sync N | wait  (wait: WAIT all replicas after each write)
/// fencing = none             # none | min-replicas N LAG_SECONDS
/// workload = set             # register | set | a YCSB workload file
/// clients = 4
/// keys = 4
/// duration = 20s
/// nemesis = lag-replication+kill
/// nemesis.interval = 8s
/// nemesis.fault_duration = 5s
/// nemesis.seed = 1
/// settle = 5s
/// timelimit = 120s
/// ```
/// Every key is checked: an unknown one is an error (a misspelt key would otherwise change
/// nothing, silently). Durations take `ms`, `s` or `m`; a bare number is seconds.
public struct Experiment: Sendable, Equatable {
    /// Which servers form the cluster.
    public enum ClusterKind: String, Sendable, CaseIterable {
        case kvlab, redis
        /// `replicas + 1` etcd members (Raft), every link through the proxy; no sentinels.
        case etcd
    }

    /// How etcd clients read (`read.consistency`; other clusters ignore it).
    public enum ReadConsistency: String, Sendable, CaseIterable {
        /// Confirmed with a quorum before answering.
        case linearizable
        /// Answered from the member's local state: may be stale.
        case serializable
    }

    /// How the primary acknowledges writes.
    public enum AckMode: Sendable, Equatable, CustomStringConvertible {
        /// Acknowledge after the local apply (Redis's default).
        case async
        /// Acknowledge after `replicas` replicas confirmed (kvlab's `--repl-ack sync`).
        case sync(replicas: Int)
        /// Asynchronous primary; the client sends `WAIT replicas timeout` after each write and
        /// records the write as indeterminate when fewer replicas confirm.
        case wait(replicas: Int)

        public var description: String {
            switch self {
            case .async: "async"
            case .sync(let n): "sync \(n)"
            case .wait(let n): "wait \(n)"
            }
        }
    }

    /// Redis's `min-replicas-to-write` / `min-replicas-max-lag` fencing of a deposed primary.
    public struct Fencing: Sendable, Equatable, CustomStringConvertible {
        public var minReplicas: Int
        public var maxLagSeconds: Int
        public init(minReplicas: Int, maxLagSeconds: Int) {
            self.minReplicas = minReplicas
            self.maxLagSeconds = maxLagSeconds
        }
        public var description: String { "min-replicas \(minReplicas) \(maxLagSeconds)" }
    }

    /// What the clients run.
    public enum WorkloadKind: Sendable, Equatable, CustomStringConvertible {
        /// read/write/cas on small integers over a few keys, checked for linearizability.
        case register
        /// unique adds to a few sets, final reads: lost writes counted directly.
        case set
        /// A YCSB workload file (path as written, resolved against the experiment's directory).
        case ycsb(path: String)

        public var description: String {
            switch self {
            case .register: "register"
            case .set: "set"
            case .ycsb(let path): path
            }
        }
    }

    /// The faults the nemesis can inject (names as in the proxy's `Nemesis`).
    public enum FaultKind: String, Sendable, CaseIterable {
        /// SIGKILL the target, restart it at the heal.
        case kill
        /// SIGSTOP the target, SIGCONT at the heal.
        case pause
        /// Cut one node (the target) from every other party.
        case partitionIsolateNode = "partition-isolate-node"
        /// The primary and one party on one side (a minority), the rest on the other.
        case partitionPrimaryMinority = "partition-primary-minority"
        /// A clean split in two halves, the larger one a majority.
        case partitionMajoritySplit = "partition-majority-split"
        /// Delay the replication links (`nemesis.lag`).
        case lagReplication = "lag-replication"
        /// Delay the replication links, then, halfway through the fault, SIGKILL the target:
        /// the replicas are behind when the primary dies.
        case lagThenKill = "lag-replication+kill"
        /// The target's disk fails every fsync (`DEBUG DISKFAULT fsync-error`) until the heal,
        /// which clears it and restarts the node if its engine failed. kvlab nodes on lsm or btree.
        case diskFsyncError = "disk-fsync-error"
        /// The target's disk is full (writes fail with ENOSPC) until the heal, as above.
        case diskFull = "disk-full"

        /// A disk fault (needs kvlab nodes on a persistent engine with the fault layer).
        public var isDiskFault: Bool { self == .diskFsyncError || self == .diskFull }
    }

    /// Whom a fault hits.
    public enum FaultTarget: String, Sendable, CaseIterable {
        /// The node that is primary when the fault starts.
        case primary
        /// A node chosen by the seeded generator.
        case random
        /// A replica chosen by the seeded generator.
        case replica
    }

    /// The nemesis's schedule: one fault every `interval`, lasting `faultDuration`, kinds and
    /// targets drawn from `seed`.
    public struct NemesisPlan: Sendable, Equatable {
        /// Empty: no faults.
        public var kinds: [FaultKind]
        public var target: FaultTarget
        public var intervalSeconds: Double
        public var faultDurationSeconds: Double
        /// Seconds after the workload starts before the first fault.
        public var firstFaultSeconds: Double
        public var seed: UInt64
        /// Delay added to replication links by `lag-replication`.
        public var lagMilliseconds: Int

        public init(kinds: [FaultKind], target: FaultTarget, intervalSeconds: Double, faultDurationSeconds: Double,
                    firstFaultSeconds: Double, seed: UInt64, lagMilliseconds: Int) {
            self.kinds = kinds
            self.target = target
            self.intervalSeconds = intervalSeconds
            self.faultDurationSeconds = faultDurationSeconds
            self.firstFaultSeconds = firstFaultSeconds
            self.seed = seed
            self.lagMilliseconds = lagMilliseconds
        }
    }

    /// Where the file was read from (for messages and the report).
    public var path: String
    /// The experiment's name: the file name without `.experiment`.
    public var name: String
    public var cluster: ClusterKind
    public var engine: String
    /// Redis's appendfsync for kvlab nodes on lsm or btree (`--appendfsync`); set, or a disk
    /// fault in the nemesis, makes the nodes keep their files in the run directory.
    public var appendfsync: String?
    public var replicas: Int
    public var sentinels: Int
    public var ack: AckMode
    /// The sync ack's timeout (kvlab `--sync-timeout`) and WAIT's timeout.
    public var ackTimeoutMilliseconds: Int
    public var fencing: Fencing?
    public var workload: WorkloadKind
    public var clients: Int
    public var keys: Int
    public var durationSeconds: Double
    /// The client's per-request timeout: a request that takes longer is `info`.
    public var requestTimeoutSeconds: Double
    /// Operations per second over all clients (0: as fast as they go).
    public var rateLimit: Double
    public var nemesis: NemesisPlan
    /// Sentinel's `down-after-milliseconds` and `failover-timeout`.
    public var downAfterMilliseconds: Int
    public var failoverTimeoutMilliseconds: Int
    /// After healing everything, wait this long before the final reads.
    public var settleSeconds: Double
    /// The whole run (start to report) must end within this; the run stops with an error otherwise.
    public var timeLimitSeconds: Double
    /// The linearizability checker's time limit and memory budget.
    public var checkTimeLimitSeconds: Double
    public var checkMaximumMemoryBytes: Int
    /// etcd reads: linearizable (default) or serializable.
    public var readConsistency: ReadConsistency = .linearizable
    /// etcd clients each stay on one member (no failover), so clients of a cut-off member keep
    /// using it: how stale serializable reads are observed.
    public var pinnedClients = false
    /// etcd register workload: values written and compared are drawn from `0..<registerValues`
    /// (many values make a stale read stand out: the stale value is rarely written again).
    public var registerValues = 5

    /// The keys an experiment file may set, with what each expects.
    public static let knownKeys: [(key: String, expected: String)] = [
        ("cluster", "kvlab, redis or etcd"),
        ("engine", "an engine name (hash, skiplist, btree, lsm)"),
        ("appendfsync", "always, everysec or no, with cluster = kvlab and engine = lsm or btree"),
        ("replicas", "an integer 0...8"),
        ("sentinels", "an integer 0...7"),
        ("ack", "async, sync N or wait N"),
        ("ack.timeout", "a duration such as 500ms"),
        ("fencing", "none or min-replicas N LAG_SECONDS"),
        ("workload", "register, set or a YCSB workload file"),
        ("clients", "an integer 1...256"),
        ("keys", "an integer 1...10000"),
        ("duration", "a duration such as 20s"),
        ("request.timeout", "a duration such as 1s"),
        ("rate", "operations per second (0: unlimited)"),
        ("nemesis", "none, or fault kinds separated by commas: " + FaultKind.allCases.map(\.rawValue).joined(separator: ", ")),
        ("nemesis.target", "primary, random or replica"),
        ("nemesis.interval", "a duration such as 10s"),
        ("nemesis.fault_duration", "a duration such as 5s"),
        ("nemesis.first", "a duration such as 3s"),
        ("nemesis.seed", "an unsigned integer"),
        ("nemesis.lag", "a duration such as 500ms"),
        ("sentinel.down_after", "a duration such as 1s"),
        ("sentinel.failover_timeout", "a duration such as 5s"),
        ("settle", "a duration such as 5s"),
        ("timelimit", "a duration such as 120s"),
        ("check.timelimit", "a duration such as 60s"),
        ("check.max_memory", "a size in bytes, or with K, M, G"),
        ("read.consistency", "linearizable or serializable (etcd)"),
        ("clients.pinned", "true or false: each client talks to one member only, i mod members (etcd)"),
        ("register.values", "an integer 2...1000000: register values are drawn from 0..<N (etcd; default 5)"),
    ]

    /// Reads and validates an experiment file.
    /// - Throws: `ChaosError` naming the file, line, property and expectation.
    public static func load(path: String) throws(ChaosError) -> Experiment {
        let file: PropertiesFile
        do {
            file = try PropertiesFile.load(path: path)
        } catch {
            throw .unreadableExperiment(path: path, reason: error.description)
        }
        return try Experiment(file: file)
    }

    /// Parses experiment text (for tests and callers that hold the text).
    public static func parse(_ text: String, path: String) throws(ChaosError) -> Experiment {
        let file: PropertiesFile
        do {
            file = try PropertiesFile(contents: text, path: path)
        } catch {
            throw .unreadableExperiment(path: path, reason: error.description)
        }
        return try Experiment(file: file)
    }

    /// Validates parsed properties.
    public init(file: PropertiesFile) throws(ChaosError) {
        let path = file.path
        var latest: [String: PropertiesFile.Entry] = [:]
        let known = Set(Experiment.knownKeys.map(\.key))
        for entry in file.entries {
            guard known.contains(entry.key) else {
                throw .invalidProperty(path: path, line: entry.line, key: entry.key, found: entry.value,
                                       expected: "a known key: " + Experiment.knownKeys.map(\.key).joined(separator: ", "))
            }
            latest[entry.key] = entry
        }
        func expected(_ key: String) -> String { Experiment.knownKeys.first { $0.key == key }?.expected ?? "a value" }
        func bad(_ key: String) -> ChaosError {
            let entry = latest[key]
            return .invalidProperty(path: path, line: entry?.line, key: key, found: entry?.value ?? "", expected: expected(key))
        }
        func string(_ key: String, _ fallback: String?) throws(ChaosError) -> String {
            if let entry = latest[key] { return entry.value.trimmingBlanks }
            guard let fallback else { throw .missingProperty(path: path, key: key, expected: expected(key)) }
            return fallback
        }
        func integer(_ key: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(ChaosError) -> Int {
            guard let entry = latest[key] else { return fallback }
            guard let value = Int(entry.value.trimmingBlanks), range.contains(value) else { throw bad(key) }
            return value
        }
        func seconds(_ key: String, _ fallback: Double, positive: Bool = true) throws(ChaosError) -> Double {
            guard let entry = latest[key] else { return fallback }
            guard let value = Experiment.parseDuration(entry.value), positive ? value > 0 : value >= 0 else { throw bad(key) }
            return value
        }

        self.path = path
        var base = path.split(separator: "/").last.map(String.init) ?? path
        if base.hasSuffix(".experiment") { base.removeLast(".experiment".count) }
        self.name = base

        guard let cluster = ClusterKind(rawValue: try string("cluster", "kvlab")) else { throw bad("cluster") }
        self.cluster = cluster
        self.engine = try string("engine", "hash")
        guard ["hash", "skiplist", "btree", "lsm"].contains(engine) else { throw bad("engine") }
        self.replicas = try integer("replicas", 2, 0...8)
        self.sentinels = try integer("sentinels", 3, 0...7)

        let ackWords = try string("ack", "async").split(separator: " ").map(String.init)
        switch (ackWords.first, ackWords.count) {
        case ("async", 1): ack = .async
        case ("sync", 2), ("wait", 2):
            guard let n = Int(ackWords[1]), (1...max(1, replicas)).contains(n), n <= replicas else { throw bad("ack") }
            ack = ackWords[0] == "sync" ? .sync(replicas: n) : .wait(replicas: n)
        default: throw bad("ack")
        }
        self.ackTimeoutMilliseconds = Int(try seconds("ack.timeout", 1) * 1000)

        let fenceWords = try string("fencing", "none").split(separator: " ").map(String.init)
        if fenceWords == ["none"] {
            fencing = nil
        } else if fenceWords.count == 3, fenceWords[0] == "min-replicas", let n = Int(fenceWords[1]), n >= 1, n <= replicas,
                  let lag = Int(fenceWords[2]), lag >= 1 {
            fencing = Fencing(minReplicas: n, maxLagSeconds: lag)
        } else {
            throw bad("fencing")
        }

        let workloadText = try string("workload", nil)
        switch workloadText {
        case "register": workload = .register
        case "set": workload = .set
        case "": throw bad("workload")
        default: workload = .ycsb(path: workloadText)
        }
        self.clients = try integer("clients", 4, 1...256)
        self.keys = try integer("keys", 4, 1...10_000)
        self.durationSeconds = try seconds("duration", 20)
        self.requestTimeoutSeconds = try seconds("request.timeout", 1)
        if let entry = latest["rate"] {
            guard let rate = Double(entry.value.trimmingBlanks), rate >= 0, rate.isFinite else { throw bad("rate") }
            rateLimit = rate
        } else {
            rateLimit = 0
        }

        let nemesisText = try string("nemesis", "none")
        var kinds: [FaultKind] = []
        if nemesisText != "none" {
            for word in nemesisText.split(separator: ",") {
                guard let kind = FaultKind(rawValue: String(word).trimmingBlanks) else { throw bad("nemesis") }
                kinds.append(kind)
            }
            if kinds.isEmpty { throw bad("nemesis") }
        }
        guard let target = FaultTarget(rawValue: try string("nemesis.target", "primary")) else { throw bad("nemesis.target") }
        let seedText = try string("nemesis.seed", "1")
        guard let seed = UInt64(seedText) else { throw bad("nemesis.seed") }
        let interval = try seconds("nemesis.interval", 10)
        let faultDuration = try seconds("nemesis.fault_duration", 5)
        guard faultDuration < interval else {
            throw .invalidProperty(path: path, line: latest["nemesis.fault_duration"]?.line, key: "nemesis.fault_duration",
                                   found: latest["nemesis.fault_duration"]?.value ?? "5s",
                                   expected: "a duration shorter than nemesis.interval (\(interval) s): faults do not overlap")
        }
        let lag = try seconds("nemesis.lag", 0.5)
        nemesis = NemesisPlan(kinds: kinds, target: target, intervalSeconds: interval, faultDurationSeconds: faultDuration,
                              firstFaultSeconds: try seconds("nemesis.first", min(3, durationSeconds / 4), positive: false),
                              seed: seed, lagMilliseconds: Int(lag * 1000))
        if !kinds.isEmpty && replicas == 0 && kinds.contains(where: { $0 != .kill && $0 != .pause && !$0.isDiskFault }) {
            throw bad("nemesis")
        }
        let persistentEngine = ["lsm", "btree"].contains(engine)
        if let disk = kinds.first(where: \.isDiskFault), cluster != .kvlab || !persistentEngine {
            throw .invalidProperty(path: path, line: latest["nemesis"]?.line, key: "nemesis", found: nemesisText,
                                   expected: "\(disk.rawValue) only with cluster = kvlab and engine = lsm or btree "
                                       + "(a real redis-server has no fault-injecting file layer; hash and skiplist keep no files; "
                                       + "found cluster = \(cluster.rawValue), engine = \(engine))")
        }
        if let entry = latest["appendfsync"] {
            let mode = entry.value.trimmingBlanks
            guard ["always", "everysec", "no"].contains(mode), cluster == .kvlab, persistentEngine else { throw bad("appendfsync") }
            appendfsync = mode
        } else {
            appendfsync = nil
        }

        self.downAfterMilliseconds = Int(try seconds("sentinel.down_after", 1) * 1000)
        self.failoverTimeoutMilliseconds = Int(try seconds("sentinel.failover_timeout", 5) * 1000)
        self.settleSeconds = try seconds("settle", 5, positive: false)
        self.timeLimitSeconds = try seconds("timelimit", max(120, 3 * durationSeconds))
        guard timeLimitSeconds > durationSeconds + settleSeconds else {
            throw .invalidProperty(path: path, line: latest["timelimit"]?.line, key: "timelimit",
                                   found: latest["timelimit"]?.value ?? "", expected: "more than duration + settle")
        }
        self.checkTimeLimitSeconds = try seconds("check.timelimit", 60)
        if let entry = latest["check.max_memory"] {
            guard let size = Experiment.parseSize(entry.value.trimmingBlanks), size > 0 else { throw bad("check.max_memory") }
            checkMaximumMemoryBytes = size
        } else {
            checkMaximumMemoryBytes = 1 << 30
        }
        guard let readConsistency = ReadConsistency(rawValue: try string("read.consistency", "linearizable")) else { throw bad("read.consistency") }
        self.readConsistency = readConsistency
        self.registerValues = try integer("register.values", 5, 2...1_000_000)
        switch try string("clients.pinned", "false") {
        case "true": pinnedClients = true
        case "false": pinnedClients = false
        default: throw bad("clients.pinned")
        }
    }

    /// Whether the nemesis injects disk faults (the nodes then start with the fault layer).
    public var hasDiskFaults: Bool { nemesis.kinds.contains(where: \.isDiskFault) }

    /// Whether kvlab nodes keep their engine's files (`--db` in the run directory).
    public var persistentNodes: Bool { appendfsync != nil || hasDiskFaults }

    /// `500ms`, `2s`, `1.5m`, or a bare number of seconds; nil for anything else.
    public static func parseDuration(_ text: String) -> Double? {
        let t = text.trimmingBlanks
        let (number, scale): (Substring, Double) =
            t.hasSuffix("ms") ? (t.dropLast(2), 0.001) : t.hasSuffix("s") ? (t.dropLast(), 1)
            : t.hasSuffix("m") ? (t.dropLast(), 60) : (Substring(t), 1)
        guard let value = Double(number), value.isFinite, value >= 0, value * scale <= 86_400 else { return nil }
        return value * scale
    }

    /// Bytes, or with K, M, G (binary multiples); nil for anything else.
    public static func parseSize(_ text: String) -> Int? {
        let multipliers: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = text.last, let m = multipliers[Character(last.uppercased())] {
            guard let n = Int(text.dropLast()), n >= 0, n <= Int.max / m else { return nil }
            return n * m
        }
        return Int(text)
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (properties values may end in blanks).
    var trimmingBlanks: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
