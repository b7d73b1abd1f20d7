// The search: Wing & Gong's backtracking with Lowe's memoization, over one part of a history.

import Foundation
import History
import Synchronization

/// When a search must stop: a monotonic deadline and a flag another thread can raise.
struct StopCondition: Sendable {
    /// `DispatchTime` uptime nanoseconds; `UInt64.max` for none.
    var deadline: UInt64

    @inline(__always) func reached() -> Bool {
        deadline != .max && DispatchTime.now().uptimeNanoseconds >= deadline
    }
}

/// A search's backtracking record: the call entry linearized, the state before it, and the
/// remaining choices of a nondeterministic step.
struct SearchFrame<State> {
    var entry: Int
    var previous: State
    var choices: [State]?
    var nextChoice: Int
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
    /// Stopped by the deadline; `deepest` is how far it got.
    case unknown(deepest: [Int])

    var isIllegal: Bool { if case .illegal = self { true } else { false } }
}

/// Counters of one search, for reports.
struct SearchStatistics {
    var steps: Int = 0
    var cachedConfigurations: Int = 0
}

/// A key of the memo: the set of linearized operations and the model state.
///
/// The set is a bitset stored compactly: the number of leading words that are all ones, then
/// the words up to the last non-zero one. Operations are linearized roughly in real-time
/// order, so a set is "everything before a frontier, plus a few", and a configuration costs a
/// few words whatever the history's length. A Zobrist hash of the set, maintained
/// incrementally, spares hashing the words.
struct Configuration<State: Hashable>: Hashable {
    let zobrist: UInt64
    let fullWords: Int
    let tail: [UInt64]
    let state: State

    func hash(into hasher: inout Hasher) {
        hasher.combine(zobrist)
        hasher.combine(state)
    }

    static func == (a: Configuration, b: Configuration) -> Bool {
        a.zobrist == b.zobrist && a.fullWords == b.fullWords && a.state == b.state && a.tail == b.tail
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
/// - Parameters:
///   - initialState: where to start (default: the model's initial state).
///   - onSuccess: called with the final state of each linearization found; return false to
///     keep searching (to collect every reachable final state), true to stop there.
func search<M: Model>(model: M, operations: [SearchOperation<M.Step>], stop: StopCondition,
                      statistics: inout SearchStatistics, keepDeepest: Bool = true, initialState: M.State? = nil,
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

    typealias Frame = SearchFrame<M.State>
    var stack: [Frame] = []
    stack.reserveCapacity(n)
    var linearized = [UInt64](repeating: 0, count: (n + 63) / 64)
    var fullWords = 0          // linearized[0..<fullWords] are all ones
    var highestWord = -1       // linearized[(highestWord+1)...] are all zero
    var zobrist: UInt64 = 0
    var state = initialState ?? model.initialState
    var cache = Set<Configuration<M.State>>()
    // The deepest partial linearization is copied lazily, when the search first backtracks
    // from a new maximum depth, so a search that mostly moves forward copies almost nothing.
    var deepest: [Int] = []
    let trackDeepest = keepDeepest
    var deepestDepth = 0
    var deepestSaved = true
    var entry = Int(next[head])
    var iterations = 0

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
    /// Tries to linearize the operation of call entry `e` into `candidate`; true if it was new.
    @inline(__always) func tryLinearize(_ e: Int, _ candidate: M.State, choices: [M.State]?, nextChoice: Int) -> Bool {
        let op = e >> 1
        let newZobrist = zobrist ^ zobristKeys[op]
        let word = op >> 6
        linearized[word] |= 1 << UInt64(op & 63)
        var full = fullWords
        while full < linearized.count && linearized[full] == ~0 { full += 1 }
        let high = max(highestWord, word)
        let tail = full <= high ? Array(linearized[full...high]) : []
        let (inserted, _) = cache.insert(Configuration(zobrist: newZobrist, fullWords: full, tail: tail, state: candidate))
        if !inserted {
            linearized[word] &= ~(1 << UInt64(op & 63))
            return false
        }
        fullWords = full
        highestWord = high
        stack.append(Frame(entry: e, previous: state, choices: choices, nextChoice: nextChoice))
        state = candidate
        zobrist = newZobrist
        lift(e)
        return true
    }
    func currentOrder() -> [Int] { stack.map { $0.entry >> 1 } }

    while true {
        iterations &+= 1
        if iterations & 0x3FF == 0 && stop.reached() {
            statistics.steps += iterations
            statistics.cachedConfigurations += cache.count
            return .unknown(deepest: !trackDeepest || stack.count >= deepestDepth ? currentOrder() : deepest)
        }
        var complete = entry < 0 || (entry & 1 == 1 && unknown[entry >> 1])
        if complete, let onSuccess, !onSuccess(state) { complete = false; entry = head }
        if complete {
            statistics.steps += iterations
            statistics.cachedConfigurations += cache.count
            return .linearizable(order: currentOrder())
        }
        if entry & 1 == 0 && entry != head {
            var advanced = false
            var transition = model.step(state, operations[entry >> 1].step)
            if operations[entry >> 1].optional {
                // Either it took effect (as the model says) or it did not (the state stays).
                switch transition {
                case .illegal: transition = .next(state)
                case .next(let s): transition = s == state ? .next(s) : .choices([s, state])
                case .choices(let options): transition = .choices(options.contains(state) ? options : options + [state])
                }
            }
            switch transition {
            case .illegal: break
            case .next(let s): advanced = tryLinearize(entry, s, choices: nil, nextChoice: 0)
            case .choices(let options):
                for (k, s) in options.enumerated() where tryLinearize(entry, s, choices: options, nextChoice: k + 1) {
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
            } else {
                entry = Int(next[entry])
            }
        } else {
            // A return entry whose operation is not linearized: backtrack.
            var resumed = false
            while !resumed {
                if trackDeepest && !deepestSaved && stack.count == deepestDepth {
                    deepest = currentOrder()
                    deepestSaved = true
                }
                guard let frame = stack.popLast() else {
                    statistics.steps += iterations
                    statistics.cachedConfigurations += cache.count
                    return .illegal(deepest: trackDeepest ? deepest : [])
                }
                let op = frame.entry >> 1
                state = frame.previous
                zobrist ^= zobristKeys[op]
                linearized[op >> 6] &= ~(1 << UInt64(op & 63))
                if op >> 6 < fullWords { fullWords = op >> 6 }
                while highestWord >= 0 && linearized[highestWord] == 0 { highestWord -= 1 }
                unlift(frame.entry)
                if let choices = frame.choices {
                    var k = frame.nextChoice
                    while k < choices.count {
                        if tryLinearize(frame.entry, choices[k], choices: choices, nextChoice: k + 1) {
                            resumed = true
                            entry = Int(next[head])
                            break
                        }
                        k += 1
                    }
                }
                if !resumed {
                    entry = Int(next[frame.entry])
                    resumed = true
                }
            }
        }
    }
}
