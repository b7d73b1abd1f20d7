// The checker's entry point: split the history by key, search each part in parallel, explain.

import Foundation
import History
import Synchronization

/// The verdict on a history or on one of its parts.
public enum Verdict: String, Sendable, Comparable {
    case linearizable
    /// The search ran out of time: neither proved nor refuted.
    case unknown
    case violation

    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }
    var rank: Int { switch self { case .linearizable: 0; case .unknown: 1; case .violation: 2 } }
}

/// How to check.
public struct CheckOptions: Sendable {
    /// The time limit when none is given: long enough for every history of 2,000
    /// operations from 50 clients that kvlab's generator makes, short enough that a search
    /// that cannot finish says so within minutes.
    public static let defaultTimeout: Duration = .seconds(120)

    /// The memory budget when none is given: a quarter of physical memory.
    public static var defaultMaximumMemory: Int {
        Int(clamping: ProcessInfo.processInfo.physicalMemory / 4)
    }

    /// Give up (verdict `unknown`) after this long; nil = no limit.
    public var timeout: Duration?
    /// Give up (verdict `unknown`) when the search's structures — memoized configurations,
    /// stacks, memoized transitions, interned states — hold this many bytes; nil = no limit.
    /// Counted from the structures themselves, not the process's resident size, so the
    /// point where it is reached does not depend on the allocator.
    public var maximumMemory: Int?
    /// For a violation, shrink the counterexample to a minimal set of operations.
    public var minimizeCounterexample: Bool
    /// Shrink without a time budget of its own (only the overall limit). By default the
    /// explanation of a violation (shortest illegal prefix, window, shrinking) gets a few
    /// times the verdict's own time, and says when its counterexample is not minimal.
    public var exhaustiveMinimization: Bool
    /// Stop checking the other parts once one part is a violation (they are reported
    /// unknown, `notChecked`). False checks every part, for a complete per-key report.
    public var stopAtFirstViolation: Bool
    /// Parts checked at once (default: the number of cores).
    public var parallelism: Int
    /// The search's techniques (all by default; turning one off is for measuring it).
    public var techniques: SearchTechniques

    public init(timeout: Duration? = CheckOptions.defaultTimeout, maximumMemory: Int? = CheckOptions.defaultMaximumMemory,
                minimizeCounterexample: Bool = true, exhaustiveMinimization: Bool = false,
                stopAtFirstViolation: Bool = true,
                parallelism: Int = ProcessInfo.processInfo.activeProcessorCount, techniques: SearchTechniques = .all) {
        self.timeout = timeout
        self.maximumMemory = maximumMemory
        self.minimizeCounterexample = minimizeCounterexample
        self.exhaustiveMinimization = exhaustiveMinimization
        self.stopAtFirstViolation = stopAtFirstViolation
        self.parallelism = max(1, parallelism)
        self.techniques = techniques
    }
}

/// The result for one part of the history (one key, for a partitioned model).
public struct PartitionResult: Sendable {
    /// The part's key (nil: the whole history is one part).
    public var key: Value?
    public var verdict: Verdict
    /// The part's operations (ids into `CheckResult.operations`), in invocation order.
    public var operations: [Int]
    /// Linearizable: the order found. Violation: a linearization of the longest
    /// linearizable prefix. Unknown: the longest partial linearization the search reached.
    /// HistoryOperation ids, in linearization order.
    public var linearization: [Int]
    /// Violation: the ids of a minimal set of operations that cannot be linearized, even if
    /// every other operation of the part had taken effect (with any result) at any point of
    /// its own interval, or not at all (operations still pending at the violation: at any
    /// time after their invocation, or never). Relaxing any one of them makes the rest
    /// linearizable. Empty otherwise.
    public var counterexample: [Int]
    /// Violation: whether `counterexample` was fully shrunk (false if time ran out).
    public var counterexampleIsMinimal: Bool
    /// Violation: the ids of the operations that complete in the longest linearizable prefix
    /// (the part's history up to, not including, the completion that makes it illegal).
    public var longestLinearizablePrefix: [Int]
    /// Violation: where the counterexample starts. The operations of the part that complete
    /// before this event position are summarised by the states they can leave the object in
    /// (`counterexampleStartStates`); nil if the counterexample starts from the initial state.
    public var counterexampleStartPosition: Int?
    /// Violation: the states (described by the model) the counterexample starts from: every
    /// state the operations before `counterexampleStartPosition` can leave the object in.
    public var counterexampleStartStates: [String]
    /// Violation: the operation whose completion no linearization can accommodate.
    /// Unknown: the first operation the deepest partial linearization could not place.
    public var stalledAt: Int?
    /// Unknown: why the search stopped (time limit, memory budget, or not checked because
    /// another part is a violation).
    public var stopReason: StopReason?
    /// Model steps taken and configurations memoized (all searches of this part).
    public var steps: Int
    public var configurations: Int
    /// The most bytes the search structures of one of this part's searches held.
    public var peakSearchBytes: Int
    public var elapsed: Duration
}

/// The result of checking a history.
public struct CheckResult: Sendable {
    public var model: String
    /// Violation if any part is a violation, else unknown if any part is unknown.
    public var verdict: Verdict
    /// The history's operations (failed ones excluded); partitions refer to them by id.
    public var operations: [HistoryOperation]
    /// The parts, ordered by their first operation.
    public var partitions: [PartitionResult]
    public var elapsed: Duration
}

/// Checks whether a history is linearizable with respect to `model`.
/// - Throws: `HistoryError` if the history's events do not pair up, `ModelError` if the
///   model cannot interpret an operation.
public func check<M: Model>(_ history: History, model: M, options: CheckOptions = CheckOptions()) throws -> CheckResult {
    try check(try history.operations(), model: model, options: options)
}

/// Checks whether `operations` (ids `0..<count`, as `History.operations()` gives them) are
/// linearizable with respect to `model`. Each part (by `model.partition`) is checked on its
/// own, several at once; within the time limit, never longer.
/// - Throws: `ModelError` if the model cannot interpret an operation.
// Specialized for the built-in models, so the search runs without generic indirection when
// called from another module (the CLI) with one of them.
@_specialize(exported: true, where M == KeyValueModel)
@_specialize(exported: true, where M == RegisterModel)
@_specialize(exported: true, where M == CASRegisterModel)
@_specialize(exported: true, where M == MultiRegisterModel)
@_specialize(exported: true, where M == MutexModel)
public func check<M: Model>(_ operations: [HistoryOperation], model: M, options: CheckOptions = CheckOptions()) throws(ModelError) -> CheckResult {
    let clock = ContinuousClock()
    let started = clock.now
    let deadline: UInt64 = options.timeout.map { timeout in
        let nanos = Double(timeout.components.seconds) * 1e9 + Double(timeout.components.attoseconds) / 1e9
        // A limit beyond the clock's range (centuries) is no limit; converting it would trap
        // or wrap around to a deadline already past.
        guard nanos < 9e18 else { return UInt64.max }
        return DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, nanos))
    } ?? .max

    var steps: [M.Step] = []
    steps.reserveCapacity(operations.count)
    for operation in operations { steps.append(try model.prepare(operation)) }

    // Parts in order of first appearance.
    var partIndex: [Value?: Int] = [:]
    var parts: [[Int]] = []
    var keys: [Value?] = []
    for operation in operations {
        let key = model.partition(operation)
        if let p = partIndex[key] {
            parts[p].append(operation.id)
        } else {
            partIndex[key] = parts.count
            parts.append([operation.id])
            keys.append(key)
        }
    }

    let results = Mutex<[PartitionResult?]>(Array(repeating: nil, count: parts.count))
    let nextPart = Atomic<Int>(0)
    let bySize = parts.indices.sorted { parts[$0].count > parts[$1].count }
    let workers = min(options.parallelism, max(1, parts.count))
    let budget = SearchBudget(maximumBytes: options.maximumMemory ?? .max)
    let stop = StopCondition(deadline: deadline, budget: budget)
    let context = PartContext(model: model, operations: operations, steps: steps, stop: stop,
                              minimize: options.minimizeCounterexample, exhaustive: options.exhaustiveMinimization,
                              techniques: options.techniques)
    let stopAtFirstViolation = options.stopAtFirstViolation
    let allParts = parts, allKeys = keys
    let work: @Sendable (Int) -> Void = { _ in
        while true {
            let k = nextPart.add(1, ordering: .relaxed).oldValue
            guard k < bySize.count else { return }
            let p = bySize[k]
            let result = context.check(part: allParts[p], key: allKeys[p])
            // One violation decides the history: the other parts' searches (running or not
            // yet started) stop and say so, unless every part is wanted.
            if result.verdict == .violation && stopAtFirstViolation { budget.cancelled.store(true, ordering: .relaxed) }
            results.withLock { $0[p] = result }
        }
    }
    if workers == 1 {
        work(0)
    } else {
        // Threads of our own rather than a shared pool, so every worker really runs at once
        // (a violation found by one must be able to stop a search running on another).
        let finished = DispatchGroup()
        for w in 1..<workers {
            finished.enter()
            Thread { work(w); finished.leave() }.start()
        }
        work(0)
        finished.wait()
    }

    let partitions = results.withLock { $0.compactMap { $0 } }
    let verdict = partitions.map(\.verdict).max() ?? .linearizable
    return CheckResult(model: model.name, verdict: verdict, operations: operations, partitions: partitions,
                       elapsed: clock.now - started)
}

/// What checking one part needs; shared read-only by the worker threads.
struct PartContext<M: Model>: @unchecked Sendable {
    let model: M
    let operations: [HistoryOperation]
    let steps: [M.Step]
    let stop: StopCondition
    let minimize: Bool
    let exhaustive: Bool
    let techniques: SearchTechniques

    /// Runs `search` with this check's techniques.
    func run(_ operations: [SearchOperation<M.Step>], stop: StopCondition, statistics: inout SearchStatistics,
             keepDeepest: Bool = true, initialState: M.State? = nil, onSuccess: ((M.State) -> Bool)? = nil) -> SearchOutcome {
        search(model: model, operations: operations, stop: stop, statistics: &statistics, keepDeepest: keepDeepest,
               initialState: initialState, techniques: techniques, onSuccess: onSuccess)
    }

    func check(part: [Int], key: Value?) -> PartitionResult {
        let clock = ContinuousClock()
        let started = clock.now
        var statistics = SearchStatistics()
        var result = PartitionResult(key: key, verdict: .linearizable, operations: part, linearization: [],
                                     counterexample: [], counterexampleIsMinimal: false, longestLinearizablePrefix: [],
                                     counterexampleStartPosition: nil, counterexampleStartStates: [], stalledAt: nil,
                                     stopReason: nil, steps: 0, configurations: 0, peakSearchBytes: 0, elapsed: .zero)
        if let why = stop.reason() {
            // Cancelled (another part is a violation) or out of time before this part began.
            result.verdict = .unknown
            result.stopReason = why
            return result
        }
        let searchOperations = part.map { id in
            SearchOperation(step: steps[id], call: operations[id].invokePosition,
                            ret: operations[id].outcome == .ok ? operations[id].returnPosition : nil)
        }
        let outcome = run(searchOperations, stop: stop, statistics: &statistics)
        switch outcome {
        case .linearizable(let order):
            result.linearization = order.map { part[$0] }
        case .unknown(let deepest, let why):
            result.verdict = .unknown
            result.stopReason = why
            result.linearization = deepest.map { part[$0] }
            let placed = Set(deepest)
            result.stalledAt = part.indices.first { !placed.contains($0) && operations[part[$0]].outcome == .ok }.map { part[$0] }
        case .illegal(let deepest):
            result.verdict = .violation
            // Explaining takes several searches. By default they get 4 times the verdict's own
            // time (at least 2 s, which short histories never reach), so on a long history a
            // violation costs a small multiple of its verdict (the old default was 20 times);
            // exhaustive minimization gets whatever the overall limit leaves. Either way the
            // explanation is not cancelled by another part's violation.
            let spent = clock.now - started
            let spentNanos = Double(spent.components.seconds) * 1e9 + Double(spent.components.attoseconds) / 1e9
            let explainDeadline = exhaustive ? stop.deadline
                : min(stop.deadline, DispatchTime.now().uptimeNanoseconds &+ UInt64(max(2e9, 4 * spentNanos)))
            let explainStop = StopCondition(deadline: explainDeadline, budget: stop.budget, cancellable: false)
            // Where the verdict's search stalled: the operation with the earliest completion it
            // could not place. The prefix ending there is usually the shortest illegal one.
            let placed = Set(deepest.map { part[$0] })
            let hint = part.filter { !placed.contains($0) && operations[$0].outcome == .ok }
                .min { (operations[$0].returnPosition ?? .max) < (operations[$1].returnPosition ?? .max) }
            explain(part: part, into: &result, statistics: &statistics, stop: explainStop, hint: hint)
        }
        result.steps = statistics.steps
        result.configurations = statistics.cachedConfigurations
        result.peakSearchBytes = statistics.peakBytes
        result.elapsed = clock.now - started
        return result
    }

    /// A sub-history of the part: the operations invoked after event position `from` and by
    /// `cut`. Operations completed by `cut` keep their outcome, unless `relaxed`: a relaxed
    /// operation may have taken effect (with any result) within its interval, or not at all.
    /// Operations invoked by `cut` but completed later may take effect any time after their
    /// invocation, or never. Each of these only adds behaviours, so if the sub-history cannot
    /// be linearized (from every state the operations up to `from` can leave), neither can
    /// the part.
    func subHistory(part: [Int], from: Int = -1, cut: Int, relaxed: Set<Int>) -> (ids: [Int], operations: [SearchOperation<M.Step>]) {
        var ids: [Int] = []
        var ops: [SearchOperation<M.Step>] = []
        for id in part {
            let operation = operations[id]
            guard operation.invokePosition > from && operation.invokePosition <= cut else { continue }
            let completedInTime = operation.outcome == .ok && (operation.returnPosition ?? .max) <= cut
            if completedInTime && !relaxed.contains(id) {
                ids.append(id)
                ops.append(SearchOperation(step: steps[id], call: operation.invokePosition, ret: operation.returnPosition))
            } else {
                var open = operation
                open.outcome = .unknown
                guard let step = try? model.prepare(open) else { continue }
                ids.append(id)
                ops.append(SearchOperation(step: step, call: operation.invokePosition,
                                           ret: completedInTime ? operation.returnPosition : nil, optional: completedInTime))
            }
        }
        return (ids, ops)
    }

    /// Every state the part's operations up to the quiescent position `position` can leave
    /// the object in; nil if the search ran out of time.
    func finalStates(part: [Int], upTo position: Int, stop: StopCondition, statistics: inout SearchStatistics) -> [M.State]? {
        var states = Set<M.State>()
        let sub = subHistory(part: part, cut: position, relaxed: [])
        let outcome = run(sub.operations, stop: stop, statistics: &statistics,
                             keepDeepest: false, onSuccess: { states.insert($0); return false })
        if case .unknown = outcome { return nil }
        return Array(states)
    }

    enum WindowVerdict { case illegal, legal, unknown }

    /// Whether the window (`from`, `cut`] cannot be linearized from any of `states`.
    func windowVerdict(part: [Int], from: Int, cut: Int, states: [M.State], relaxed: Set<Int>, stop: StopCondition,
                       statistics: inout SearchStatistics) -> WindowVerdict {
        let sub = subHistory(part: part, from: from, cut: cut, relaxed: relaxed)
        for state in states {
            switch run(sub.operations, stop: stop, statistics: &statistics,
                          keepDeepest: false, initialState: state) {
            case .illegal: continue
            case .linearizable: return .legal
            case .unknown: return .unknown
            }
        }
        return .illegal
    }

    /// Positions after which no operation of the part is in flight (before `cut`).
    func quiescentPoints(part: [Int], before cut: Int) -> [Int] {
        var deltas: [(position: Int, change: Int)] = []
        for id in part {
            let operation = operations[id]
            guard operation.invokePosition < cut else { continue }
            deltas.append((operation.invokePosition, 1))
            if operation.outcome == .ok, let r = operation.returnPosition, r < cut { deltas.append((r, -1)) }
        }
        deltas.sort { $0.position < $1.position }
        var open = 0
        var points: [Int] = []
        for d in deltas {
            open += d.change
            if open == 0 && d.change < 0 { points.append(d.position) }
        }
        return points
    }

    /// Finds the shortest illegal prefix of the part (binary search over completions; the
    /// prefix one completion shorter is the longest legal one), then the shortest window
    /// ending there that is illegal from every state the operations before it can leave
    /// (walking back over quiescent points), then shrinks the window's operations.
    func explain(part: [Int], into result: inout PartitionResult, statistics: inout SearchStatistics, stop: StopCondition,
                 hint: Int? = nil) {
        let cuts = part.compactMap { operations[$0].outcome == .ok ? operations[$0].returnPosition : nil }.sorted()
        guard !cuts.isEmpty else { return }
        // Invariant: prefix at cuts[high] is illegal; prefix at cuts[low - 1] (if any) is legal.
        var low = 0, high = cuts.count - 1
        var gaveUp = false
        // Try the verdict search's stall point first, and the completion before it: when
        // they bracket the boundary, two searches replace the binary search's log n.
        if let hint, let position = operations[hint].returnPosition, let h = cuts.firstIndex(of: position), h < high {
            switch run(subHistory(part: part, cut: cuts[h], relaxed: []).operations, stop: stop, statistics: &statistics,
                       keepDeepest: false) {
            case .illegal:
                high = h
                if h > 0 {
                    switch run(subHistory(part: part, cut: cuts[h - 1], relaxed: []).operations, stop: stop,
                               statistics: &statistics, keepDeepest: false) {
                    case .linearizable: low = h
                    case .illegal: high = h - 1
                    case .unknown: gaveUp = true; low = high
                    }
                }
            case .linearizable: low = h + 1
            case .unknown: gaveUp = true; low = high
            }
        }
        while low < high {
            let middle = (low + high) / 2
            let sub = subHistory(part: part, cut: cuts[middle], relaxed: [])
            switch run(sub.operations, stop: stop, statistics: &statistics, keepDeepest: false) {
            case .illegal: high = middle
            case .linearizable: low = middle + 1
            case .unknown:
                gaveUp = true
                low = high
            }
        }
        let cut = cuts[high]
        if high > 0 && !gaveUp {
            let sub = subHistory(part: part, cut: cuts[high - 1], relaxed: [])
            if case .linearizable(let order) = run(sub.operations, stop: stop, statistics: &statistics) {
                result.linearization = order.map { sub.ids[$0] }
            }
        }
        result.longestLinearizablePrefix = high > 0
            ? part.filter { operations[$0].outcome == .ok && (operations[$0].returnPosition ?? .max) <= cuts[high - 1] } : []
        result.stalledAt = part.first { operations[$0].returnPosition == cut }

        // The window: walk back over quiescent points (1, 2, 4, ... of them) until the window
        // from there to the cut is illegal from every state the prefix before it can leave.
        var from = -1
        var startStates = [model.initialState]
        if !gaveUp {
            let points = quiescentPoints(part: part, before: cut)
            var back = 1
            while back <= points.count {
                let q = points[points.count - back]
                guard let states = finalStates(part: part, upTo: q, stop: stop, statistics: &statistics) else { gaveUp = true; break }
                let verdict = windowVerdict(part: part, from: q, cut: cut, states: states, relaxed: [], stop: stop,
                                            statistics: &statistics)
                if verdict == .illegal {
                    from = q
                    startStates = states
                    break
                }
                if verdict == .unknown { gaveUp = true; break }
                back *= 2
            }
        }

        // Shrinking (delta debugging): relax chunks of the window's definite operations,
        // halving the chunk size down to single operations; keep a relaxation if the window
        // stays illegal. The result is 1-minimal: relaxing any one of its operations makes it
        // linearizable.
        var definite = part.filter {
            operations[$0].invokePosition > from && operations[$0].outcome == .ok && (operations[$0].returnPosition ?? .max) <= cut
        }
        var relaxed: Set<Int> = []
        var minimal = !gaveUp
        if minimize && !gaveUp {
            var chunk = max(1, definite.count / 2)
            shrinking: while true {
                var start = 0
                while start < definite.count {
                    if stop.reached() { minimal = false; break shrinking }
                    let candidates = definite[start..<min(definite.count, start + chunk)]
                    relaxed.formUnion(candidates)
                    switch windowVerdict(part: part, from: from, cut: cut, states: startStates, relaxed: relaxed, stop: stop,
                                         statistics: &statistics) {
                    case .illegal:
                        definite.removeSubrange(start..<min(definite.count, start + chunk))
                    case .legal:
                        relaxed.subtract(candidates)
                        start += chunk
                    case .unknown:
                        relaxed.subtract(candidates)
                        minimal = false
                        break shrinking
                    }
                }
                if chunk == 1 { break }
                chunk = max(1, chunk / 2)
            }
        } else {
            minimal = false
        }
        result.counterexample = definite
        result.counterexampleIsMinimal = minimal
        if from >= 0 {
            result.counterexampleStartPosition = from
            result.counterexampleStartStates = startStates.map { model.describe($0) }.sorted()
        }
    }
}

extension StopReason {
    /// Why a part's verdict is unknown, for reports.
    public var explanation: String {
        switch self {
        case .timeout: "timed out"
        case .memoryBudget: "memory budget reached"
        case .notChecked: "not checked (another part is a violation; check every part with --all-keys)"
        }
    }
}
