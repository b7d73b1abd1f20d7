// The nemesis: a seeded schedule of fault/heal pairs, applied to a cluster through hooks, with a timeline.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVCore

/// The kinds of fault the nemesis injects.
///
/// The disk kinds need kvlab nodes on a persistent engine started with disk faults
/// (`ClusterConfiguration.diskFaults`: `kvlab serve --db DIR --disk-faults`), whose
/// `DEBUG DISKFAULT` switches KVStorage's `SwitchableFaultFileSystem` under the engine.
public enum NemesisFaultKind: String, CaseIterable, Sendable, Codable {
    /// SIGKILL a node; restart it with the same arguments at heal.
    case kill
    /// SIGSTOP a node; SIGCONT at heal.
    case pause
    /// Cut one node off from the other nodes (and their sentinels).
    case isolateNode = "isolate-node"
    /// The primary plus the fewest others a minority needs, against the rest.
    case primaryInMinority = "primary-in-minority"
    /// A random minority of nodes against the majority (the primary may be on either side).
    case majoritySplit = "majority-split"
    /// A delay on every node-to-node link (replication falls behind).
    case replicationLag = "replication-lag"
    /// The node's disk fails every fsync (`DEBUG DISKFAULT fsync-error`); `DEBUG DISKFAULT none`
    /// at heal, and a restart if the node's engine failed meanwhile.
    case diskFsyncError = "disk-fsync-error"
    /// The node's disk is full: writes fail with ENOSPC (`DEBUG DISKFAULT disk-full`); healed as
    /// `disk-fsync-error` is.
    case diskFull = "disk-full"
}

/// A disk fault a node's fault-injecting file layer can be switched to, by its `DEBUG DISKFAULT` name.
public enum NemesisDiskFault: String, Sendable, Equatable, Codable, CaseIterable {
    case fsyncError = "fsync-error"
    case diskFull = "disk-full"

    /// The nemesis kind that injects it.
    public var kind: NemesisFaultKind { self == .fsyncError ? .diskFsyncError : .diskFull }
}

/// Which node a single-node fault (kill, pause, isolate) hits.
public enum NemesisTargetChoice: Sendable, Equatable, Codable {
    /// Whichever node is primary when the fault starts.
    case primary
    /// A node drawn from the seed.
    case randomNode
}

/// What the nemesis is asked to do.
public struct NemesisConfiguration: Sendable, Equatable {
    /// Fixes the whole schedule.
    public var seed: UInt64
    /// Seconds from one fault's start to the next one's.
    public var intervalSeconds: Double
    /// Seconds a fault lasts before its heal (less than the interval, so faults never overlap).
    public var holdSeconds: Double
    /// The kinds drawn from, uniformly.
    public var kinds: [NemesisFaultKind]
    /// The nodes (names as the cluster knows them).
    public var nodes: [String]
    /// How kill, pause, isolate and the disk faults choose their node.
    public var target: NemesisTargetChoice
    /// Faults start only while start + hold <= this.
    public var durationSeconds: Double
    /// The delay `replication-lag` sets on node-to-node links.
    public var lagMilliseconds: Int

    public init(seed: UInt64, intervalSeconds: Double, holdSeconds: Double? = nil, kinds: [NemesisFaultKind],
                nodes: [String], target: NemesisTargetChoice = .randomNode, durationSeconds: Double,
                lagMilliseconds: Int = 500) {
        self.seed = seed
        self.intervalSeconds = intervalSeconds
        self.holdSeconds = holdSeconds ?? intervalSeconds / 2
        self.kinds = kinds
        self.nodes = nodes
        self.target = target
        self.durationSeconds = durationSeconds
        self.lagMilliseconds = lagMilliseconds
    }
}

/// A node named in a scheduled fault: fixed at schedule time, or the primary of the moment.
public enum NemesisTarget: Sendable, Equatable, Codable, CustomStringConvertible {
    case node(String)
    case primary

    public var description: String {
        switch self {
        case .node(let name): return name
        case .primary: return "primary"
        }
    }
}

/// One fault of a schedule.
public enum NemesisFault: Sendable, Equatable, Codable {
    case kill(NemesisTarget)
    case pause(NemesisTarget)
    case isolate(NemesisTarget)
    /// `draw` picks the primary's companions in the minority (if any) when the fault starts.
    case primaryInMinority(draw: UInt64)
    /// The minority's nodes.
    case majoritySplit(minority: [String])
    case replicationLag(milliseconds: Int)
    /// The target's disk fails as `fault` says until the heal.
    case disk(NemesisTarget, NemesisDiskFault)

    /// The kind of this fault.
    public var kind: NemesisFaultKind {
        switch self {
        case .kill: return .kill
        case .pause: return .pause
        case .isolate: return .isolateNode
        case .primaryInMinority: return .primaryInMinority
        case .majoritySplit: return .majoritySplit
        case .replicationLag: return .replicationLag
        case .disk(_, let fault): return fault.kind
        }
    }
}

/// A fault and when it starts and heals, in seconds from the nemesis's start.
public struct NemesisStep: Sendable, Equatable, Codable {
    public var startSeconds: Double
    public var healSeconds: Double
    public var fault: NemesisFault
}

/// The steps a configuration produces: the same seed gives the same schedule.
public struct NemesisSchedule: Sendable, Equatable {
    public var configuration: NemesisConfiguration
    public var steps: [NemesisStep]

    /// Draws the schedule.
    /// - Throws: `.invalidNemesis` for no kinds, no nodes, a non-positive interval, or a hold not
    ///   shorter than the interval.
    public init(_ configuration: NemesisConfiguration) throws(FaultInjectionError) {
        guard !configuration.kinds.isEmpty else { throw .invalidNemesis("no fault kinds given") }
        guard !configuration.nodes.isEmpty else { throw .invalidNemesis("no nodes given") }
        guard configuration.intervalSeconds > 0 else { throw .invalidNemesis("interval \(configuration.intervalSeconds) s: expected > 0") }
        guard configuration.holdSeconds > 0 && configuration.holdSeconds < configuration.intervalSeconds else {
            throw .invalidNemesis("hold \(configuration.holdSeconds) s: expected > 0 and < the interval (\(configuration.intervalSeconds) s)")
        }
        self.configuration = configuration
        var random = SeededRandom(seed: configuration.seed)
        var steps: [NemesisStep] = []
        let nodes = configuration.nodes
        func pickNode() -> NemesisTarget {
            configuration.target == .primary ? .primary : .node(nodes[Int(random.next(below: UInt64(nodes.count)))])
        }
        var start = configuration.intervalSeconds
        // Bounded by construction (duration / interval steps), and by a hard cap against typos.
        while start + configuration.holdSeconds <= configuration.durationSeconds && steps.count < 100_000 {
            let kind = configuration.kinds[Int(random.next(below: UInt64(configuration.kinds.count)))]
            let fault: NemesisFault
            switch kind {
            case .kill: fault = .kill(pickNode())
            case .pause: fault = .pause(pickNode())
            case .isolateNode: fault = .isolate(pickNode())
            case .primaryInMinority: fault = .primaryInMinority(draw: random.next())
            case .majoritySplit:
                var shuffled = nodes
                for i in stride(from: shuffled.count - 1, to: 0, by: -1) {
                    shuffled.swapAt(i, Int(random.next(below: UInt64(i + 1))))
                }
                fault = .majoritySplit(minority: Array(shuffled.prefix(max(1, (nodes.count - 1) / 2))).sorted())
            case .replicationLag: fault = .replicationLag(milliseconds: configuration.lagMilliseconds)
            case .diskFsyncError: fault = .disk(pickNode(), .fsyncError)
            case .diskFull: fault = .disk(pickNode(), .diskFull)
            }
            steps.append(NemesisStep(startSeconds: start, healSeconds: start + configuration.holdSeconds, fault: fault))
            start += configuration.intervalSeconds
        }
        self.steps = steps
    }
}

/// What the nemesis acts through: a running cluster implements it (`RunningCluster` does).
public protocol NemesisHooks: AnyObject, Sendable {
    /// The nodes' names.
    var nodeNames: [String] { get }
    /// The node that is primary now, if one can be found.
    func currentPrimary() -> String?
    /// SIGKILL the node's process.
    func kill(node: String) throws
    /// Start the node again with its original arguments (it rejoins as the cluster decides).
    func restart(node: String) throws
    /// SIGSTOP the node.
    func pause(node: String) throws
    /// SIGCONT the node.
    func resume(node: String) throws
    /// Partition the nodes into groups (the cluster places its other parties, such as sentinels).
    func partition(_ groups: [[String]]) throws
    /// Delay every node-to-node link by `milliseconds` (0 removes the delay).
    func setReplicationDelay(milliseconds: Int) throws
    /// Remove every network fault.
    func healNetwork() throws
    /// Switch the node's disk to `fault` (`DEBUG DISKFAULT`, sent to the node's own port, not
    /// through the proxy, so a partition cannot stop it).
    func setDiskFault(node: String, _ fault: NemesisDiskFault) throws
    /// Clear the node's disk fault (`DEBUG DISKFAULT none`) and restart the node if its engine
    /// failed meanwhile (kvlab's engines stop for good after an I/O error); returns what was
    /// done, for the timeline.
    func healDiskFault(node: String) throws -> String
}

extension NemesisHooks {
    /// Hooks without a disk-fault layer refuse disk faults (the nemesis records an `error` event).
    public func setDiskFault(node: String, _ fault: NemesisDiskFault) throws {
        throw FaultInjectionError.cluster("\(node): this cluster has no disk-fault layer (\(fault.kind.rawValue) needs kvlab nodes on lsm or btree started with disk faults)")
    }

    /// See `setDiskFault(node:_:)`: nothing to heal.
    public func healDiskFault(node: String) throws -> String { "no disk-fault layer on \(node)" }
}

/// One entry of the run's fault timeline.
public struct NemesisEvent: Sendable, Equatable, Codable {
    public enum Phase: String, Sendable, Codable {
        case start, heal
        /// A fault that could not be applied (`detail` says why).
        case error
    }

    /// Nanoseconds on the nemesis's clock (pass the workload's clock to share its time base).
    public var time: UInt64
    public var phase: Phase
    public var kind: NemesisFaultKind
    /// The nodes concerned (resolved: the primary's name, not "primary").
    public var targets: [String]
    /// A human-readable account ("n1 | n2 n3", "delay 500ms", the error).
    public var detail: String
}

/// Applies a schedule to a cluster in real time and records every fault and heal.
///
/// `run(until:)` blocks the calling thread; `start()` runs it on a thread of its own and
/// `stopAndHeal()` ends it. Whatever is active when it stops is healed (`healAll()`), so a
/// run never ends with a node paused, killed or cut off.
public final class Nemesis: @unchecked Sendable {
    public let schedule: NemesisSchedule
    private let hooks: any NemesisHooks
    private let clock: any MonotonicClock
    private let lock = ConditionLock()
    private var events: [NemesisEvent] = []
    private var killed: Set<String> = []
    private var paused: Set<String> = []
    private var networkFaulted = false
    /// Nodes whose disk is faulted, with the kind (for the heal's event).
    private var diskFaulted: [String: NemesisFaultKind] = [:]
    private var stopRequested = false
    private var running = false
    private var thread: Thread?

    public init(schedule: NemesisSchedule, hooks: any NemesisHooks, clock: any MonotonicClock = SystemMonotonicClock()) {
        self.schedule = schedule
        self.hooks = hooks
        self.clock = clock
    }

    /// The events so far, in time order.
    public var timeline: [NemesisEvent] { lock.withLock { events } }

    /// Runs the schedule on a background thread.
    public func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "kvlab-nemesis"
        lock.withLock { running = true; self.thread = thread }
        thread.start()
    }

    /// Stops the schedule (a step in progress is healed), heals everything, and waits for the thread.
    public func stopAndHeal() {
        lock.withLock {
            stopRequested = true
            lock.broadcast()
            while running && thread != nil { lock.wait() }
        }
        healAll()
    }

    /// Runs the schedule on this thread until its end or `stopAndHeal()`; heals at the end.
    public func run() {
        let origin = clock.nanoseconds()
        defer {
            healAll()
            lock.withLock { running = false; lock.broadcast() }
        }
        for step in schedule.steps {
            guard waitUntil(origin + UInt64(step.startSeconds * 1e9)) else { return }
            apply(step.fault)
            guard waitUntil(origin + UInt64(step.healSeconds * 1e9)) else { return }
            heal(step.fault)
        }
    }

    /// Heals every fault the nemesis has active: network faults removed, paused nodes resumed,
    /// killed nodes restarted, disk faults cleared. Errors become `error` events (healing
    /// carries on with the rest).
    public func healAll() {
        let (toResume, toRestart, network, disks) = lock.withLock { () -> ([String], [String], Bool, [(key: String, value: NemesisFaultKind)]) in
            defer { paused.removeAll(); killed.removeAll(); networkFaulted = false; diskFaulted.removeAll() }
            return (paused.sorted(), killed.sorted(), networkFaulted, diskFaulted.sorted { $0.key < $1.key })
        }
        for (node, kind) in disks { healDisk(node, kind: kind, suffix: " (heal all)") }
        for node in toResume { attempt(.pause, [node], "resume (heal all)") { try hooks.resume(node: node) } }
        for node in toRestart { attempt(.kill, [node], "restart (heal all)") { try hooks.restart(node: node) } }
        if network {
            attempt(.isolateNode, [], "network healed (heal all)") {
                try hooks.setReplicationDelay(milliseconds: 0)
                try hooks.healNetwork()
            }
        }
    }

    /// Sleeps until `deadline` (monotonic ns); false if a stop was requested meanwhile.
    private func waitUntil(_ deadline: UInt64) -> Bool {
        lock.withLock {
            while !stopRequested {
                let now = clock.nanoseconds()
                if now >= deadline { return true }
                lock.wait(nanoseconds: min(deadline - now, 100_000_000))
            }
            return false
        }
    }

    private func record(_ phase: NemesisEvent.Phase, _ kind: NemesisFaultKind, _ targets: [String], _ detail: String) {
        let event = NemesisEvent(time: clock.nanoseconds(), phase: phase, kind: kind, targets: targets, detail: detail)
        lock.withLock { events.append(event) }
    }

    private func attempt(_ kind: NemesisFaultKind, _ targets: [String], _ detail: String, phase: NemesisEvent.Phase = .heal, _ body: () throws -> Void) {
        do {
            try body()
            record(phase, kind, targets, detail)
        } catch {
            record(.error, kind, targets, "\(detail): \(error)")
        }
    }

    /// Clears one node's disk fault; the event says whether the node had to be restarted.
    private func healDisk(_ node: String, kind: NemesisFaultKind, suffix: String = "") {
        do {
            let detail = try hooks.healDiskFault(node: node)
            record(.heal, kind, [node], detail + suffix)
        } catch {
            record(.error, kind, [node], "DEBUG DISKFAULT none on \(node)\(suffix): \(error)")
        }
    }

    private func resolve(_ target: NemesisTarget) -> String? {
        switch target {
        case .node(let name): return name
        case .primary: return hooks.currentPrimary()
        }
    }

    /// The groups a partition fault makes, resolved against the current primary.
    func groups(for fault: NemesisFault) -> [[String]]? {
        let nodes = hooks.nodeNames
        switch fault {
        case .isolate(let target):
            guard let node = resolve(target) else { return nil }
            return [[node], nodes.filter { $0 != node }]
        case .primaryInMinority(let draw):
            guard let primary = hooks.currentPrimary() else { return nil }
            var others = nodes.filter { $0 != primary }
            var random = SeededRandom(seed: draw)
            for i in stride(from: others.count - 1, to: 0, by: -1) { others.swapAt(i, Int(random.next(below: UInt64(i + 1)))) }
            let minoritySize = max(1, (nodes.count - 1) / 2)
            let minority = [primary] + others.prefix(minoritySize - 1)
            return [minority.sorted(), nodes.filter { !minority.contains($0) }]
        case .majoritySplit(let minority):
            return [minority, nodes.filter { !minority.contains($0) }]
        default:
            return nil
        }
    }

    private func apply(_ fault: NemesisFault) {
        let kind = fault.kind
        switch fault {
        case .kill(let target):
            guard let node = resolve(target) else { record(.error, kind, [], "no primary found"); return }
            attempt(kind, [node], "SIGKILL \(node)", phase: .start) {
                try hooks.kill(node: node)
                lock.withLock { _ = killed.insert(node) }
            }
        case .pause(let target):
            guard let node = resolve(target) else { record(.error, kind, [], "no primary found"); return }
            attempt(kind, [node], "SIGSTOP \(node)", phase: .start) {
                try hooks.pause(node: node)
                lock.withLock { _ = paused.insert(node) }
            }
        case .isolate, .primaryInMinority, .majoritySplit:
            guard let groups = groups(for: fault) else { record(.error, kind, [], "no primary found"); return }
            attempt(kind, groups[0], groups.map { $0.joined(separator: " ") }.joined(separator: " | "), phase: .start) {
                lock.withLock { networkFaulted = true }
                try hooks.partition(groups)
            }
        case .replicationLag(let milliseconds):
            attempt(kind, hooks.nodeNames, "delay \(milliseconds)ms on node-to-node links", phase: .start) {
                lock.withLock { networkFaulted = true }
                try hooks.setReplicationDelay(milliseconds: milliseconds)
            }
        case .disk(let target, let diskFault):
            guard let node = resolve(target) else { record(.error, kind, [], "no primary found"); return }
            attempt(kind, [node], "DEBUG DISKFAULT \(diskFault.rawValue) on \(node)", phase: .start) {
                // Remembered before the switch: a node left half-switched is still healed.
                lock.withLock { diskFaulted[node] = kind }
                try hooks.setDiskFault(node: node, diskFault)
            }
        }
    }

    private func heal(_ fault: NemesisFault) {
        let kind = fault.kind
        switch fault {
        case .kill:
            let nodes = lock.withLock { () -> [String] in defer { killed.removeAll() }; return killed.sorted() }
            for node in nodes { attempt(kind, [node], "restart \(node)") { try hooks.restart(node: node) } }
        case .pause:
            let nodes = lock.withLock { () -> [String] in defer { paused.removeAll() }; return paused.sorted() }
            for node in nodes { attempt(kind, [node], "SIGCONT \(node)") { try hooks.resume(node: node) } }
        case .isolate, .primaryInMinority, .majoritySplit:
            lock.withLock { networkFaulted = false }
            attempt(kind, [], "partition healed") { try hooks.healNetwork() }
        case .replicationLag:
            lock.withLock { networkFaulted = false }
            attempt(kind, [], "delay removed") { try hooks.setReplicationDelay(milliseconds: 0) }
        case .disk:
            let nodes = lock.withLock { () -> [String] in defer { diskFaulted.removeAll() }; return diskFaulted.keys.sorted() }
            for node in nodes { healDisk(node, kind: kind) }
        }
    }
}
