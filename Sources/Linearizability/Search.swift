// The search: Wing & Gong's backtracking with Lowe's memoization, over one part of a history.

import Foundation
import History
import Synchronization

/// Why a search stopped without a verdict.
public enum StopReason: String, Sendable {
    /// The time limit was reached.
    case timeout
    /// The search's structures (memo, stack, interned states) reached the memory budget.
    case memoryBudget = "memory-budget"
    /// Another part of the history is a violation, so this one was not (fully) checked.
    case notChecked = "not-checked"
}

/// What the searches of one check share: a flag raised when one part is a violation, and the
/// bytes their structures hold, against a budget.
///
/// The bytes are counted from the search's own structures (cache entries, hash slots, stack
/// frames, memoized transitions, interned states at their inline size), not from the
/// process's resident size, so a budget is reached at the same point on every run (with one
/// worker; with several, parts share the budget in whatever order they grow).
final class SearchBudget: Sendable {
    let cancelled = Atomic<Bool>(false)
    let bytesInUse = Atomic<Int>(0)
    let maximumBytes: Int

    init(maximumBytes: Int) { self.maximumBytes = maximumBytes }

    /// Reserves `bytes` more; false (and nothing reserved) if that exceeds the budget.
    func reserve(_ bytes: Int) -> Bool {
        let total = bytesInUse.add(bytes, ordering: .relaxed).newValue
        if total > maximumBytes {
            bytesInUse.subtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    func release(_ bytes: Int) { bytesInUse.subtract(bytes, ordering: .relaxed) }
}

/// When a search must stop: a monotonic deadline, the shared budget and cancellation flag.
struct StopCondition: Sendable {
    /// `DispatchTime` uptime nanoseconds; `UInt64.max` for none.
    var deadline: UInt64
    var budget: SearchBudget
    /// Whether the shared cancellation flag stops this search (not for the searches that
    /// explain a violation already found).
    var cancellable: Bool = true

    init(deadline: UInt64, budget: SearchBudget = SearchBudget(maximumBytes: .max), cancellable: Bool = true) {
        self.deadline = deadline
        self.budget = budget
        self.cancellable = cancellable
    }

    /// Why the search must stop now, if it must.
    @inline(__always) func reason() -> StopReason? {
        if cancellable && budget.cancelled.load(ordering: .relaxed) { return .notChecked }
        if deadline != .max && DispatchTime.now().uptimeNanoseconds >= deadline { return .timeout }
        return nil
    }

    func reached() -> Bool { reason() != nil }
}

/// The techniques the search uses, each of which can be turned off to measure it. All keep
/// the verdict exact.
public struct SearchTechniques: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Partial-order reduction for operations that never change the state (reads, by
    /// `Model.isReadOnly`): one that can go next and fits the current state is linearized at
    /// once, with no alternative tried (any linearization can be reordered to place it first).
    public static let commutingReads = SearchTechniques(rawValue: 1)
    /// Memoized transitions: states are interned, and (state, operation) → next state is
    /// computed by the model once (Knossos's transition tables, built lazily).
    public static let transitionMemo = SearchTechniques(rawValue: 2)
    /// The linearized set stored as a frontier (words full of linearized or
    /// unknown-outcome operations), the unknown-outcome operations below it that are not
    /// linearized, and the words above it; otherwise the whole bitset is stored.
    public static let frontierEncoding = SearchTechniques(rawValue: 4)

    /// Orders inferred from observed values (`Model.inferredOrder`; for the key-value model,
    /// the order of unique appends every read reveals): the search never tries another.
    public static let inferredOrder = SearchTechniques(rawValue: 8)

    public static let all: SearchTechniques = [.commutingReads, .transitionMemo, .frontierEncoding, .inferredOrder]
}

/// A search's backtracking record: the call entry linearized, the state before it, and the
/// remaining choices of a nondeterministic step.
struct SearchFrame {
    var entry: Int32
    var previous: Int32
    /// Linearized without alternatives (a commuting read): backtracking goes past it.
    var forced: Bool
    var nextChoice: Int32
    var choices: [Int32]?
}

/// One operation as the search sees it.
struct SearchOperation<Step> {
    var step: Step
    /// Order of the invocation among the part's events.
    var call: Int
    /// Order of the completion, or nil: open to the end (an unknown outcome).
    var ret: Int?
    /// Whether the operation may also not take effect at all, though it is bounded by its
    /// completion (the counterexample search relaxes operations this way).
    var optional: Bool = false
}

/// What a search found.
enum SearchOutcome {
    /// Every operation with a known outcome fits; `order` lists the linearized operations
    /// (local indices), unknown-outcome operations that took effect included.
    case linearizable(order: [Int])
    /// No order fits. `deepest` is the longest partial linearization reached.
    case illegal(deepest: [Int])
    /// Stopped early; `deepest` is how far it got.
    case unknown(deepest: [Int], reason: StopReason)

    var isIllegal: Bool { if case .illegal = self { true } else { false } }
}

/// Counters of one or several searches, for reports.
struct SearchStatistics {
    var steps: Int = 0
    var cachedConfigurations: Int = 0
    /// The most bytes one search's structures held.
    var peakBytes: Int = 0
}

/// The memo of configurations (linearized set, state) already explored, in flat arrays.
///
/// Each configuration is a run of words in `arena`: the Zobrist hash of the set; the state
/// id and the frontier (in words); the counts of tail words and holes; the tail words; the
/// holes (unknown-outcome operations below the frontier that are not linearized), two per
/// word. Open addressing over `slots` (offset + 1, with 24 bits of the hash as a tag). A
/// configuration whose set is "everything up to here, and a few" costs 4–5 words plus its
/// slot, whatever the part's length, and a crashed (`info`) operation left out costs half a
/// word rather than every word after it.
struct ConfigurationTable {
    var slots: [UInt64] = Array(repeating: 0, count: 1024)
    var arena: [UInt64] = []
    var count = 0

    /// Bytes held, from counts (not capacities, which follow the allocator's size classes), so
    /// the same search counts the same bytes on every run.
    var bytes: Int { slots.count * 8 + arena.count * 8 }

    @inline(__always) static func hash(_ zobrist: UInt64, _ stateID: UInt64) -> UInt64 {
        var z = zobrist ^ (stateID &* 0x9E37_79B9_7F4A_7C15)
        z = (z ^ (z >> 29)) &* 0xBF58_476D_1CE4_E5B9
        return z ^ (z >> 32)
    }

    /// Inserts `key` (an encoded configuration); false if it was already there.
    mutating func insert(_ key: UnsafeBufferPointer<UInt64>) -> Bool {
        if (count + 1) * 2 > slots.count { grow() }
        let h = ConfigurationTable.hash(key[0], key[1] & 0xFFFF_FFFF)
        let tag = h >> 40
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = slots[i]
            if slot == 0 { break }
            if slot >> 40 == tag {
                let offset = Int(slot & 0xFF_FFFF_FFFF) - 1
                var same = true
                for k in 0..<key.count where arena[offset + k] != key[k] { same = false; break }
                if same { return false }
            }
            i = (i + 1) & mask
        }
        slots[i] = tag << 40 | UInt64(arena.count + 1)
        arena.append(contentsOf: key)
        count += 1
        return true
    }

    private mutating func grow() {
        var bigger = [UInt64](repeating: 0, count: slots.count * 2)
        let mask = bigger.count - 1
        for slot in slots where slot != 0 {
            let offset = Int(slot & 0xFF_FFFF_FFFF) - 1
            let h = ConfigurationTable.hash(arena[offset], arena[offset + 1] & 0xFFFF_FFFF)
            var i = Int(truncatingIfNeeded: h) & mask
            while bigger[i] != 0 { i = (i + 1) & mask }
            bigger[i] = slot
        }
        slots = bigger
    }
}

/// Checks one part of a history against `model`.
///
/// The operations' call and return entries form a doubly-linked list in real-time order.
/// The search walks it: at a call entry it tries to linearize that operation next (apply it
/// to the model; if legal and the configuration (linearized set, state) is new, remove the
/// operation's entries from the list and start again at the front); at a return entry the
/// operation that returns there was not linearized in time, so it backtracks (restores the
/// last linearized operation and tries the entry after it). Unknown-outcome operations
/// return "at infinity", after every other entry: reaching one of those returns means every
/// operation with a known outcome is linearized, and the rest may never have happened.
///
/// An operation that can go next, never changes the state (`Model.isReadOnly`: a read) and
/// fits the current state is linearized at once and never reconsidered
/// (`SearchTechniques.commutingReads`): if any linearization exists from here, moving that
/// operation to its front gives another — no remaining operation returned before it was
/// invoked, and it changes no state wherever it stood. So concurrent reads of one state
/// cost one path, not every order and subset of them. (An operation that merely leaves
/// *this* state unchanged, such as a write of the current value, does not qualify: moved,
/// it would change the states after its old place.)
///
/// - Parameters:
///   - initialState: where to start (default: the model's initial state).
///   - onSuccess: called with the final state of each linearization found; return false to
///     keep searching (to collect every reachable final state), true to stop there.
func search<M: Model>(model: M, operations: [SearchOperation<M.Step>], stop: StopCondition,
                      statistics: inout SearchStatistics, keepDeepest: Bool = true, initialState: M.State? = nil,
                      techniques: SearchTechniques = .all,
                      onSuccess: ((M.State) -> Bool)? = nil) -> SearchOutcome {
    let n = operations.count
    if n == 0 {
        if let onSuccess, !onSuccess(initialState ?? model.initialState) { return .illegal(deepest: []) }
        return .linearizable(order: [])
    }
    // Entries: 2i = call of operation i, 2i+1 = its return. Head sentinel: 2n.
    let head = 2 * n
    var order = [Int](0..<(2 * n))
    order.sort { a, b in
        let pa = a & 1 == 0 ? operations[a >> 1].call : (operations[a >> 1].ret ?? Int.max)
        let pb = b & 1 == 0 ? operations[b >> 1].call : (operations[b >> 1].ret ?? Int.max)
        if pa != pb { return pa < pb }
        return a < b
    }
    var next = [Int32](repeating: -1, count: 2 * n + 1)
    var prev = [Int32](repeating: -1, count: 2 * n + 1)
    var last = head
    for e in order {
        next[last] = Int32(e)
        prev[e] = Int32(last)
        last = e
    }
    let unknown = operations.map { $0.ret == nil }

    var zobristKeys = [UInt64](repeating: 0, count: n)
    var seed: UInt64 = 0x243F_6A88_85A3_08D3
    for i in 0..<n {
        seed &+= 0x9E37_79B9_7F4A_7C15
        var z = seed
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        zobristKeys[i] = z ^ (z >> 31)
    }

    let wordCount = (n + 63) / 64
    // Operations that may stay out of a linearization (unknown outcome, or optional), and
    // the bits past the last operation: both count as "full" when finding the frontier.
    var mayStayOut = [UInt64](repeating: 0, count: wordCount)
    for i in 0..<n where unknown[i] || operations[i].optional { mayStayOut[i >> 6] |= 1 << UInt64(i & 63) }
    let mayStayOutWords = (0..<wordCount).filter { mayStayOut[$0] != 0 }
    if n & 63 != 0 { mayStayOut[wordCount - 1] |= ~0 << UInt64(n & 63) }
    let useFrontier = techniques.contains(.frontierEncoding)
    let useMemo = techniques.contains(.transitionMemo)
    // Inferred orders: an operation waits until those it must follow are linearized.
    var predecessors = [[Int32]](repeating: [], count: n)
    if techniques.contains(.inferredOrder) {
        for (before, after) in model.inferredOrder(operations.map(\.step), initialState: initialState ?? model.initialState)
        where before >= 0 && before < n && after >= 0 && after < n
            // An optional operation may also not take effect, which the search tries as a
            // step that leaves the state alone; an order about its effect cannot bind that.
            && !operations[before].optional && !operations[after].optional {
            if before == after {
                // An operation that can never take effect: if it must have, nothing fits.
                if !unknown[after] { return .illegal(deepest: []) }
                continue
            }
            predecessors[after].append(Int32(before))
        }
    }
    let readOnly = techniques.contains(.commutingReads) ? operations.map { model.isReadOnly($0.step) } : Array(repeating: false, count: n)

    // Interned states: the memo and the stack refer to states by index.
    var states: [M.State] = []
    var stateIndex: [M.State: Int32] = [:]
    // What the interned states hold on the heap (a key-value model's appended strings grow
    // with every append; counted at their inline size alone they escaped the budget).
    var stateHeapBytes = 0
    func intern(_ s: M.State) -> Int32 {
        if let id = stateIndex[s] { return id }
        let id = Int32(states.count)
        states.append(s)
        stateIndex[s] = id
        stateHeapBytes += approximateHeapBytes(s)
        return id
    }
    // Transition memo: (state id << 32 | operation) → next state id, -1 illegal, -2 several.
    var transitions: [UInt64: Int32] = [:]

    var stack: [SearchFrame] = []
    stack.reserveCapacity(n)
    var linearized = [UInt64](repeating: 0, count: wordCount)
    var fullWords = 0          // words [0, fullWords) hold only linearized or may-stay-out operations
    var highestWord = -1       // linearized[(highestWord+1)...] are all zero
    var zobrist: UInt64 = 0
    var state = intern(initialState ?? model.initialState)
    var cache = ConfigurationTable()
    var key = [UInt64](repeating: 0, count: 3 + wordCount + (n + 1) / 2)
    var deepest: [Int] = []
    let trackDeepest = keepDeepest
    var deepestDepth = 0
    var deepestSaved = true
    var entry = Int(next[head])
    var iterations = 0

    // Memory: what the structures hold, reserved from the shared budget in 1 MiB steps.
    let stateBytes = MemoryLayout<M.State>.stride + 24
    var reserved = 0
    defer { stop.budget.release(reserved) }
    func bytesHeld() -> Int {
        // Dictionaries: an entry, plus a slot's share at their maximum load factor (3/4).
        cache.bytes + stack.count * MemoryLayout<SearchFrame>.stride + states.count * stateBytes + stateHeapBytes
            + stateIndex.count * (MemoryLayout<M.State>.stride + 4) * 4 / 3 + transitions.count * 12 * 4 / 3
            + (next.count + prev.count) * 4 + linearized.count * 16 + key.count * 8 + n * 8
    }
    /// False if the structures outgrew the budget.
    func withinBudget() -> Bool {
        let held = bytesHeld()
        statistics.peakBytes = max(statistics.peakBytes, held)
        guard held > reserved else { return true }
        let more = (held - reserved + (1 << 20) - 1) & ~((1 << 20) - 1)
        guard stop.budget.reserve(more) else { return false }
        reserved += more
        return true
    }

    @inline(__always) func lift(_ call: Int) {
        let ret = call + 1
        next[Int(prev[call])] = next[call]
        if next[call] >= 0 { prev[Int(next[call])] = prev[call] }
        next[Int(prev[ret])] = next[ret]
        if next[ret] >= 0 { prev[Int(next[ret])] = prev[ret] }
    }
    @inline(__always) func unlift(_ call: Int) {
        let ret = call + 1
        next[Int(prev[ret])] = Int32(ret)
        if next[ret] >= 0 { prev[Int(next[ret])] = Int32(ret) }
        next[Int(prev[call])] = Int32(call)
        if next[call] >= 0 { prev[Int(next[call])] = Int32(call) }
    }
    /// The next states of operation `op` from the current state: `[]` illegal.
    @inline(__always) func successors(_ op: Int) -> (single: Int32, several: [Int32]?) {
        let memoKey = UInt64(UInt32(state)) << 32 | UInt64(op)
        if useMemo, let known = transitions[memoKey], known != -2 { return (known, nil) }
        var transition = model.step(states[Int(state)], operations[op].step)
        if operations[op].optional {
            // Either it took effect (as the model says) or it did not (the state stays).
            let current = states[Int(state)]
            switch transition {
            case .illegal: transition = .next(current)
            case .next(let s): transition = s == current ? .next(s) : .choices([s, current])
            case .choices(let options): transition = .choices(options.contains(current) ? options : options + [current])
            }
        }
        switch transition {
        case .illegal:
            if useMemo { transitions[memoKey] = -1 }
            return (-1, nil)
        case .next(let s):
            let id = intern(s)
            if useMemo { transitions[memoKey] = id }
            return (id, nil)
        case .choices(let options):
            if useMemo { transitions[memoKey] = -2 }
            var ids: [Int32] = []
            for s in options {
                let id = intern(s)
                if !ids.contains(id) { ids.append(id) }
            }
            return (-2, ids)
        }
    }
    /// Tries to linearize the operation of call entry `e` into state `candidate`; true if
    /// the configuration was new.
    func tryLinearize(_ e: Int, _ candidate: Int32, forced: Bool, choices: [Int32]?, nextChoice: Int) -> Bool {
        let op = e >> 1
        let newZobrist = zobrist ^ zobristKeys[op]
        let word = op >> 6
        linearized[word] |= 1 << UInt64(op & 63)
        var full = fullWords
        var high = max(highestWord, word)
        var length = 3
        if useFrontier {
            while full < wordCount && (linearized[full] | mayStayOut[full]) == ~0 { full += 1 }
            var holes = 0
            for w in mayStayOutWords {
                if w >= full { break }
                var bits = mayStayOut[w] & ~linearized[w]
                if w == wordCount - 1 && n & 63 != 0 { bits &= (1 << UInt64(n & 63)) - 1 }
                while bits != 0 {
                    let index = UInt64(w * 64 + bits.trailingZeroBitCount)
                    let slot = 3 + max(0, high - full + 1) + holes / 2
                    if holes & 1 == 0 { key[slot] = index } else { key[slot] |= index << 32 }
                    holes += 1
                    bits &= bits - 1
                }
            }
            // Holes were written after the tail's place; the tail goes first.
            let tailCount = max(0, high - full + 1)
            for k in 0..<tailCount { key[3 + k] = linearized[full + k] }
            key[2] = UInt64(tailCount) | UInt64(holes) << 32
            length = 3 + tailCount + (holes + 1) / 2
        } else {
            full = 0
            high = wordCount - 1
            for k in 0..<wordCount { key[3 + k] = linearized[k] }
            key[2] = UInt64(wordCount)
            length = 3 + wordCount
        }
        key[0] = newZobrist
        key[1] = UInt64(UInt32(candidate)) | UInt64(full) << 32
        let inserted = key.withUnsafeBufferPointer { cache.insert(UnsafeBufferPointer(rebasing: $0[0..<length])) }
        if !inserted {
            linearized[word] &= ~(1 << UInt64(op & 63))
            return false
        }
        if useFrontier { fullWords = full }
        highestWord = max(highestWord, word)
        stack.append(SearchFrame(entry: Int32(e), previous: state, forced: forced, nextChoice: Int32(nextChoice), choices: choices))
        state = candidate
        zobrist = newZobrist
        lift(e)
        return true
    }
    func currentOrder() -> [Int] { stack.map { Int($0.entry) >> 1 } }
    func finish() {
        statistics.steps += iterations
        statistics.cachedConfigurations += cache.count
        _ = withinBudget()
    }

    while true {
        iterations &+= 1
        if iterations & 0x3FF == 0 {
            var why = stop.reason()
            if why == nil && !withinBudget() { why = .memoryBudget }
            if let why {
                finish()
                return .unknown(deepest: !trackDeepest || stack.count >= deepestDepth ? currentOrder() : deepest, reason: why)
            }
        }
        var complete = entry < 0 || (entry & 1 == 1 && unknown[entry >> 1])
        if complete, let onSuccess, !onSuccess(states[Int(state)]) { complete = false; entry = head }
        if complete {
            finish()
            return .linearizable(order: currentOrder())
        }
        var backtrack = entry & 1 == 1 || entry == head
        if !backtrack {
            var blocked = false
            for p in predecessors[entry >> 1] where linearized[Int(p) >> 6] & (1 << UInt64(p & 63)) == 0 {
                blocked = true
                break
            }
            if blocked {
                entry = Int(next[entry])
                continue
            }
            var advanced = false
            let (single, several) = successors(entry >> 1)
            if single >= 0 {
                let commuting = readOnly[entry >> 1] && single == state
                advanced = tryLinearize(entry, single, forced: commuting, choices: nil, nextChoice: 0)
                // A commuting operation already explored from here: so was every order of
                // what remains (see above), and this configuration fails too.
                if commuting && !advanced { backtrack = true }
            } else if let options = several {
                for (k, s) in options.enumerated() where tryLinearize(entry, s, forced: false, choices: options, nextChoice: k + 1) {
                    advanced = true
                    break
                }
            }
            if advanced {
                if stack.count > deepestDepth {
                    deepestDepth = stack.count
                    deepestSaved = false
                }
                entry = Int(next[head])
            } else if !backtrack {
                entry = Int(next[entry])
            }
        }
        if backtrack {
            // A return entry whose operation is not linearized (or a failed commuting one).
            var resumed = false
            while !resumed {
                if trackDeepest && !deepestSaved && stack.count == deepestDepth {
                    deepest = currentOrder()
                    deepestSaved = true
                }
                guard let frame = stack.popLast() else {
                    finish()
                    return .illegal(deepest: trackDeepest ? deepest : [])
                }
                let e = Int(frame.entry)
                let op = e >> 1
                state = frame.previous
                zobrist ^= zobristKeys[op]
                linearized[op >> 6] &= ~(1 << UInt64(op & 63))
                if op >> 6 < fullWords { fullWords = op >> 6 }
                while highestWord >= 0 && linearized[highestWord] == 0 { highestWord -= 1 }
                unlift(e)
                if frame.forced { continue }
                if let choices = frame.choices {
                    var k = Int(frame.nextChoice)
                    while k < choices.count {
                        if tryLinearize(e, choices[k], forced: false, choices: choices, nextChoice: k + 1) {
                            resumed = true
                            entry = Int(next[head])
                            break
                        }
                        k += 1
                    }
                }
                if !resumed {
                    entry = Int(next[e])
                    resumed = true
                }
            }
        }
    }
}

/// Heap bytes a state holds beyond its inline size, estimated for the built-in models' states
/// (values, and maps of values); 0 for other state types (their heap is not counted).
func approximateHeapBytes<S>(_ state: S) -> Int {
    if let value = state as? Value { return value.approximateHeapBytes }
    if let map = state as? [Value: Value] {
        return 64 + map.count * 2 * MemoryLayout<Value>.stride * 4 / 3
            + map.reduce(0) { $0 + $1.key.approximateHeapBytes + $1.value.approximateHeapBytes }
    }
    return 0
}

extension Value {
    /// Estimated heap bytes: the enum's box (it is `indirect`), a string's storage beyond the
    /// small-string form, a collection's buffer and elements. Shared storage counts each time.
    var approximateHeapBytes: Int {
        switch self {
        case .null: 0
        case .bool, .integer, .double: 32
        case .string(let text), .keyword(let text): 32 + (text.utf8.count > 15 ? 32 + text.utf8.count : 0)
        case .list(let items), .set(let items):
            64 + items.count * MemoryLayout<Value>.stride + items.reduce(0) { $0 + $1.approximateHeapBytes }
        case .map(let pairs):
            64 + pairs.count * MemoryLayout<Value.Pair>.stride
                + pairs.reduce(0) { $0 + $1.key.approximateHeapBytes + $1.value.approximateHeapBytes }
        }
    }
}
