// What a chaos run's history shows: throughput, latency and availability per second, lost writes, verdicts, split brain.

import Foundation
import History
import Linearizability

/// A fault as it happened: when the nemesis started it and when it healed, in seconds since
/// the run's start.
public struct FaultWindow: Sendable, Equatable, Codable {
    /// The fault kind (`kill`, `partition-isolate-node`, ...).
    public var kind: String
    /// The parties it hit (node names such as `n1`).
    public var targets: [String]
    public var start: Double
    /// Nil if it was never healed (the run ended first).
    public var end: Double?
    /// What was done, e.g. `SIGKILL n1 (pid 1234)` or `delay 500 ms on n2→n1, n3→n1`.
    public var detail: String

    public init(kind: String, targets: [String], start: Double, end: Double?, detail: String) {
        self.kind = kind
        self.targets = targets
        self.start = start
        self.end = end
        self.detail = detail
    }
}

/// One observation of a node's role, taken directly (not through the fault proxy).
public struct RoleSample: Sendable, Equatable {
    /// Nanoseconds on the history's clock.
    public var time: Int64
    public var node: String
    /// Whether the node said it is a primary (ROLE `master`).
    public var isPrimary: Bool

    public init(time: Int64, node: String, isPrimary: Bool) {
        self.time = time
        self.node = node
        self.isPrimary = isPrimary
    }
}

/// Which checks apply to a history.
public enum AnalysedWorkload: String, Sendable, Codable {
    /// read/write/cas registers: linearizability per key.
    case register
    /// unique adds and final reads: lost, unexpected, recovered elements per key.
    case set
    /// Any other workload: throughput, latency and availability only.
    case other
}

/// The checker's budget for the register verdicts.
public struct AnalysisOptions: Sendable {
    public var checkTimeLimitSeconds: Double
    public var checkMaximumMemoryBytes: Int
    public var parallelism: Int

    public init(checkTimeLimitSeconds: Double = 60, checkMaximumMemoryBytes: Int = 1 << 30, parallelism: Int = 2) {
        self.checkTimeLimitSeconds = checkTimeLimitSeconds
        self.checkMaximumMemoryBytes = checkMaximumMemoryBytes
        self.parallelism = parallelism
    }
}

/// One second of the run.
public struct SecondSummary: Sendable, Equatable, Codable {
    /// Seconds since the run's start: this bucket covers [second, second + 1).
    public var second: Int
    /// Operations that completed in this second, by outcome.
    public var ok: Int
    public var fail: Int
    /// Indeterminate (timeout, dropped connection).
    public var info: Int
    /// Latency of this second's `ok` operations (invocation to completion), in milliseconds;
    /// nil without any.
    public var p50Milliseconds: Double?
    public var p99Milliseconds: Double?
}

/// An acknowledged write missing from the final read.
public struct LostWrite: Sendable, Equatable, Codable {
    public var key: String
    public var element: String
    /// Seconds since the run's start.
    public var invokedAt: Double
    public var acknowledgedAt: Double

    public init(key: String, element: String, invokedAt: Double, acknowledgedAt: Double) {
        self.key = key
        self.element = element
        self.invokedAt = invokedAt
        self.acknowledgedAt = acknowledgedAt
    }
}

/// An element of the final read that no acknowledged add explains.
public struct ReadElement: Sendable, Equatable, Codable {
    public var key: String
    public var element: String

    public init(key: String, element: String) {
        self.key = key
        self.element = element
    }
}

/// One key of a set workload.
public struct SetKeySummary: Sendable, Equatable, Codable {
    public var key: String
    /// `valid`, `invalid` or `unknown` (never read).
    public var validity: String
    public var attempted: Int
    public var acknowledged: Int
    /// Elements in the final read (nil: never read).
    public var finalReadSize: Int?
    public var lost: Int
    public var unexpected: Int
    public var recovered: Int
}

/// Jepsen's set checker, key by key, with the lost writes' times.
public struct SetAnalysis: Sendable, Equatable, Codable {
    /// `valid` if every key is, `invalid` if any key lost or invented an element, else `unknown`.
    public var validity: String
    public var keys: [SetKeySummary]
    public var attempted: Int
    public var acknowledged: Int
    public var lost: [LostWrite]
    public var unexpected: [ReadElement]
    /// Indeterminate or failed adds that are in the final read.
    public var recovered: [ReadElement]
}

/// An operation of a counterexample, for people.
public struct CounterexampleOperation: Sendable, Equatable, Codable {
    public var process: Int
    /// E.g. `p3 write k1 5`, `p1 read k1 -> 4`.
    public var operation: String
    public var invokedAt: Double?
    public var completedAt: Double?
}

/// The linearizability verdict on one key.
public struct KeyVerdict: Sendable, Equatable, Codable {
    public var key: String
    /// `linearizable`, `violation` or `unknown`.
    public var verdict: String
    public var operations: Int
    /// Unknown: why (time limit, memory budget).
    public var stopReason: String?
    /// Violation: a minimal set of operations no order explains.
    public var counterexample: [CounterexampleOperation]
    public var counterexampleIsMinimal: Bool
    /// Violation: the states the counterexample starts from (after the operations before it).
    public var startStates: [String]
}

/// The register workload's verdicts.
public struct RegisterAnalysis: Sendable, Equatable, Codable {
    public var verdict: String
    public var model: String
    public var keys: [KeyVerdict]
    public var checkSeconds: Double
    public var checkTimeLimitSeconds: Double
    public var checkMaximumMemoryBytes: Int
}

/// A time when two or more nodes said they were primary at once.
public struct DualPrimaryWindow: Sendable, Equatable, Codable {
    public var start: Double
    public var end: Double
    public var primaries: [String]
    /// Writes acknowledged (to clients) in this window.
    public var acknowledgedWrites: Int
    /// Of those, the ones missing from the final reads (set workload).
    public var lostWrites: Int

    public init(start: Double, end: Double, primaries: [String], acknowledgedWrites: Int, lostWrites: Int) {
        self.start = start
        self.end = end
        self.primaries = primaries
        self.acknowledgedWrites = acknowledgedWrites
        self.lostWrites = lostWrites
    }
}

/// Split-brain evidence: overlapping primaries, and the writes acknowledged while they overlapped.
public struct SplitBrainAnalysis: Sendable, Equatable, Codable {
    /// Role samples taken (0: no evidence either way).
    public var samples: Int
    public var windows: [DualPrimaryWindow]
    /// Seconds with two primaries, summed.
    public var dualPrimarySeconds: Double
}

/// What a fault cost: the acknowledged writes lost around it.
public struct FaultLoss: Sendable, Equatable, Codable {
    public var kind: String
    public var start: Double
    public var end: Double?
    public var lostWrites: Int
    /// Seconds from the fault's start to the first and the last acknowledgement of a write
    /// attributed to it and lost (negative: acknowledged before the fault began, not yet
    /// replicated when it hit). `lastLostOffset` is the loss window: how long after the fault
    /// began a doomed write could still be acknowledged. Nil without lost writes.
    public var firstLostOffset: Double?
    public var lastLostOffset: Double?

    public init(kind: String, start: Double, end: Double?, lostWrites: Int, firstLostOffset: Double?, lastLostOffset: Double?) {
        self.kind = kind
        self.start = start
        self.end = end
        self.lostWrites = lostWrites
        self.firstLostOffset = firstLostOffset
        self.lastLostOffset = lastLostOffset
    }
}

/// Every figure of a chaos run's report that comes from its history.
public struct ChaosAnalysis: Sendable, Equatable, Codable {
    public var workload: AnalysedWorkload
    public var totals: Totals
    public var seconds: [SecondSummary]
    public var set: SetAnalysis?
    public var register: RegisterAnalysis?
    public var splitBrain: SplitBrainAnalysis
    public var faultLosses: [FaultLoss]

    /// Operation counts over the whole run.
    public struct Totals: Sendable, Equatable, Codable {
        public var operations: Int
        public var ok: Int
        public var fail: Int
        public var info: Int
        /// Invoked, never completed (the run ended).
        public var pending: Int
        public var p50Milliseconds: Double?
        public var p99Milliseconds: Double?
    }
}

/// The analysis as pure functions of a history and the run's fault and role timelines.
public enum HistoryAnalysis {
    /// Analyses a chaos run's history.
    /// - Parameters:
    ///   - history: the clients' history; every event carries `time` (nanoseconds).
    ///   - startTime: the run's zero on the same clock.
    ///   - workload: which checks apply.
    ///   - faults: the nemesis's fault windows (seconds since `startTime`).
    ///   - roles: role samples of the nodes, for split-brain evidence (may be empty).
    /// - Throws: `HistoryError` if the events do not pair up, `ModelError` if an operation does
    ///   not fit the workload's model.
    public static func analyse(_ history: History, startTime: Int64, workload: AnalysedWorkload, faults: [FaultWindow] = [],
                               roles: [RoleSample] = [], options: AnalysisOptions = AnalysisOptions()) throws -> ChaosAnalysis {
        let (seconds, totals) = try perSecond(history, startTime: startTime)
        let set = workload == .set ? try setAnalysis(history, startTime: startTime) : nil
        let register = workload == .register ? try registerAnalysis(history, startTime: startTime, options: options) : nil
        let split = splitBrain(history, startTime: startTime, roles: roles, lost: set?.lost ?? [])
        let losses = faultLosses(faults, lost: set?.lost ?? [])
        return ChaosAnalysis(workload: workload, totals: totals, seconds: seconds, set: set, register: register,
                             splitBrain: split, faultLosses: losses)
    }

    /// Seconds since `start` of a time in nanoseconds, rounded to the millisecond.
    static func relative(_ time: Int64?, _ start: Int64) -> Double? {
        guard let time else { return nil }
        return (Double(time - start) / 1e6).rounded() / 1e3
    }

    /// The `p`-th percentile (0...100) of sorted values, nearest rank; nil if empty.
    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }

    static func milliseconds(_ nanos: Int64) -> Double { (Double(nanos) / 1e3).rounded() / 1e3 }

    // MARK: - Per second

    /// Per-second ok/fail/info counts (by completion time) and p50/p99 latency of `ok`
    /// operations; seconds with nothing completed are included as zeros, so gaps show.
    public static func perSecond(_ history: History, startTime: Int64) throws -> ([SecondSummary], ChaosAnalysis.Totals) {
        var pending: [Int: Int64] = [:]  // process -> invocation time
        var buckets: [Int: (ok: Int, fail: Int, info: Int, latencies: [Double])] = [:]
        var all: [Double] = []
        var totals = ChaosAnalysis.Totals(operations: 0, ok: 0, fail: 0, info: 0, pending: 0)
        for (position, event) in history.events.enumerated() {
            guard let time = event.time else {
                throw HistoryError(line: event.line ?? position + 1, column: 1, expected: "an event with a time", found: "none")
            }
            if event.kind == .invoke {
                if pending[event.process] != nil { totals.pending += 1 }
                pending[event.process] = time
                totals.operations += 1
                continue
            }
            guard let invoked = pending.removeValue(forKey: event.process) else {
                throw HistoryError(line: event.line ?? position + 1, column: 1,
                                   expected: "an invocation by process \(event.process) before its :\(event.kind.rawValue)",
                                   found: "no pending operation")
            }
            let second = Int(((Double(time - startTime)) / 1e9).rounded(.down))
            var bucket = buckets[second] ?? (0, 0, 0, [])
            switch event.kind {
            case .ok:
                bucket.ok += 1
                totals.ok += 1
                let latency = milliseconds(time - invoked)
                bucket.latencies.append(latency)
                all.append(latency)
            case .fail:
                bucket.fail += 1
                totals.fail += 1
            case .info, .invoke:
                bucket.info += 1
                totals.info += 1
            }
            buckets[second] = bucket
        }
        totals.pending += pending.count
        all.sort()
        totals.p50Milliseconds = percentile(all, 50)
        totals.p99Milliseconds = percentile(all, 99)
        guard let first = buckets.keys.min(), let last = buckets.keys.max() else { return ([], totals) }
        var seconds: [SecondSummary] = []
        for second in min(0, first)...last {
            let bucket = buckets[second] ?? (0, 0, 0, [])
            let sorted = bucket.latencies.sorted()
            seconds.append(SecondSummary(second: second, ok: bucket.ok, fail: bucket.fail, info: bucket.info,
                                         p50Milliseconds: percentile(sorted, 50), p99Milliseconds: percentile(sorted, 99)))
        }
        return (seconds, totals)
    }

    // MARK: - Set

    static func keyText(_ key: Value?) -> String { key.map { $0.text ?? $0.description } ?? "" }

    /// Jepsen's set checker on each key's events (adds and the final read), with the time of
    /// each lost write's invocation and acknowledgement.
    public static func setAnalysis(_ history: History, startTime: Int64) throws -> SetAnalysis {
        var order: [Value?] = []
        var byKey: [Value?: [Event]] = [:]
        for event in history.events {
            if byKey[event.key] == nil { order.append(event.key) }
            byKey[event.key, default: []].append(event)
        }
        var keys: [SetKeySummary] = []
        var lost: [LostWrite] = []
        var unexpected: [ReadElement] = []
        var recovered: [ReadElement] = []
        var attempted = 0, acknowledged = 0
        var anyInvalid = false, anyUnknown = false
        for key in order {
            let events = byKey[key] ?? []
            let result = try SetChecker.check(History(events: events))
            let name = keyText(key)
            keys.append(SetKeySummary(key: name, validity: result.validity.rawValue, attempted: result.attempted.count,
                                      acknowledged: result.acknowledged.count, finalReadSize: result.finalRead?.count,
                                      lost: result.lost.count, unexpected: result.unexpected.count,
                                      recovered: result.recovered.count))
            attempted += result.attempted.count
            acknowledged += result.acknowledged.count
            switch result.validity {
            case .invalid: anyInvalid = true
            case .unknown: anyUnknown = true
            case .valid: break
            }
            if !result.lost.isEmpty {
                // Times of each add: its invocation and its ok completion (per process).
                var invoked: [Int: (element: Value, time: Int64)] = [:]
                var times: [Value: (invoked: Int64, acknowledged: Int64)] = [:]
                for event in events where event.function == "add" {
                    if event.kind == .invoke {
                        invoked[event.process] = (event.value, event.time ?? startTime)
                    } else if let open = invoked.removeValue(forKey: event.process), event.kind == .ok {
                        times[open.element] = (open.time, event.time ?? open.time)
                    }
                }
                for element in result.lost {
                    let t = times[element]
                    lost.append(LostWrite(key: name, element: element.description,
                                          invokedAt: relative(t?.invoked, startTime) ?? 0,
                                          acknowledgedAt: relative(t?.acknowledged, startTime) ?? 0))
                }
            }
            unexpected += result.unexpected.map { ReadElement(key: name, element: $0.description) }
            recovered += result.recovered.map { ReadElement(key: name, element: $0.description) }
        }
        lost.sort { ($0.acknowledgedAt, $0.key) < ($1.acknowledgedAt, $1.key) }
        let validity = anyInvalid ? "invalid" : anyUnknown ? "unknown" : "valid"
        return SetAnalysis(validity: validity, keys: keys, attempted: attempted, acknowledged: acknowledged, lost: lost,
                           unexpected: unexpected, recovered: recovered)
    }

    // MARK: - Register

    /// The cas-register model's verdict per key (every key checked, within the budget), with
    /// each violation's counterexample.
    public static func registerAnalysis(_ history: History, startTime: Int64, options: AnalysisOptions) throws -> RegisterAnalysis {
        let operations = try history.operations()
        let timeLimit = Duration.milliseconds(Int64(options.checkTimeLimitSeconds * 1000))
        let checkOptions = CheckOptions(timeout: timeLimit, maximumMemory: options.checkMaximumMemoryBytes,
                                        stopAtFirstViolation: false, parallelism: options.parallelism)
        let result = try check(operations, model: CASRegisterModel(), options: checkOptions)
        var keys: [KeyVerdict] = []
        for part in result.partitions {
            let counterexample = part.counterexample.map { id in
                let op = result.operations[id]
                return CounterexampleOperation(process: op.process, operation: op.description,
                                               invokedAt: relative(op.invokeTime, startTime),
                                               completedAt: relative(op.returnTime, startTime))
            }
            keys.append(KeyVerdict(key: keyText(part.key), verdict: part.verdict.rawValue, operations: part.operations.count,
                                   stopReason: part.stopReason?.explanation, counterexample: counterexample,
                                   counterexampleIsMinimal: part.counterexampleIsMinimal,
                                   startStates: part.counterexampleStartStates))
        }
        keys.sort { $0.key < $1.key }
        let elapsed = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
        return RegisterAnalysis(verdict: result.verdict.rawValue, model: result.model, keys: keys,
                                checkSeconds: (elapsed * 1000).rounded() / 1000,
                                checkTimeLimitSeconds: options.checkTimeLimitSeconds,
                                checkMaximumMemoryBytes: options.checkMaximumMemoryBytes)
    }

    // MARK: - Split brain

    /// Whether an event is a write's completion (add, write, cas) that the client saw as ok.
    static func isAcknowledgedWrite(_ event: Event) -> Bool {
        event.kind == .ok && ["add", "write", "cas", "append", "delete"].contains(event.function)
    }

    /// Windows where two or more nodes said they were primary, from role samples taken in
    /// rounds: a node's role holds from its sample until its next one. Each window counts
    /// the writes acknowledged inside it and the lost ones among them.
    public static func splitBrain(_ history: History, startTime: Int64, roles: [RoleSample], lost: [LostWrite]) -> SplitBrainAnalysis {
        let samples = roles.sorted { $0.time < $1.time }
        var current: [String: Bool] = [:]
        var windows: [(start: Int64, end: Int64, primaries: Set<String>)] = []
        var open: (start: Int64, primaries: Set<String>)?
        for sample in samples {
            current[sample.node] = sample.isPrimary
            let primaries = Set(current.filter(\.value).map(\.key))
            if primaries.count >= 2 {
                if let o = open { open = (o.start, o.primaries.union(primaries)) } else { open = (sample.time, primaries) }
            } else if let o = open {
                windows.append((o.start, sample.time, o.primaries))
                open = nil
            }
        }
        if let o = open, let last = samples.last { windows.append((o.start, last.time, o.primaries)) }
        var result: [DualPrimaryWindow] = []
        var total = 0.0
        for window in windows {
            // Times compared at the report's millisecond resolution, as the lost writes' are.
            let start = relative(window.start, startTime) ?? 0
            let end = relative(window.end, startTime) ?? 0
            let acknowledged = history.events.filter {
                guard isAcknowledgedWrite($0), let t = relative($0.time, startTime) else { return false }
                return t >= start && t <= end
            }.count
            let lostInside = lost.filter { $0.acknowledgedAt >= start && $0.acknowledgedAt <= end }.count
            result.append(DualPrimaryWindow(start: start, end: end, primaries: window.primaries.sorted(),
                                            acknowledgedWrites: acknowledged, lostWrites: lostInside))
            total += end - start
        }
        return SplitBrainAnalysis(samples: samples.count, windows: result, dualPrimarySeconds: (total * 1000).rounded() / 1000)
    }

    // MARK: - Loss per fault

    /// Attributes each lost write to a fault: the one in progress when it was acknowledged,
    /// else the next one to start (the write was not yet safe when it hit), else the last one.
    public static func faultLosses(_ faults: [FaultWindow], lost: [LostWrite]) -> [FaultLoss] {
        let ordered = faults.sorted { $0.start < $1.start }
        var result = ordered.map {
            FaultLoss(kind: $0.kind, start: $0.start, end: $0.end, lostWrites: 0, firstLostOffset: nil, lastLostOffset: nil)
        }
        for write in lost {
            let t = write.acknowledgedAt
            guard let index = ordered.lastIndex(where: { $0.start <= t && t <= ($0.end ?? .infinity) })
                ?? ordered.firstIndex(where: { $0.start > t }) ?? ordered.indices.last else { continue }
            result[index].lostWrites += 1
            let offset = ((t - ordered[index].start) * 1000).rounded() / 1000
            result[index].firstLostOffset = min(result[index].firstLostOffset ?? offset, offset)
            result[index].lastLostOffset = max(result[index].lastLostOffset ?? offset, offset)
        }
        return result
    }
}
