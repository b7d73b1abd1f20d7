// Histories of a simulated linearizable key-value map, with random delays and planted violations.

import Foundation
import History

/// Generates concurrent key-value histories the way a Jepsen or Porcupine test records them,
/// from a simulated map that is linearizable by construction, so a checker's verdict can be
/// tested against a known answer at any scale.
///
/// Each client repeatedly thinks (an exponential delay), invokes an operation on a random
/// key, the operation takes effect atomically on the map after an exponential delay, and
/// returns after another. Reads (`read`, Porcupine's get) return the value at the moment of
/// effect; `write` (put) replaces it; `append` concatenates a value unique to the history
/// (`x <client> <n> y`, as in Porcupine's `test_data/kv`), so every read reveals the order of
/// the appends it saw. A read of a missing key returns `""` (Porcupine's spelling; the `kv`
/// model reads `""` and `nil` alike).
///
/// A `mutation` then plants a violation (or, for some mutations on some histories, a change
/// that happens to stay linearizable — the fuzz test relies on both). Same options, same
/// seed: same history.
public struct HistoryGenerator: Sendable {
    /// What to plant in a generated history.
    public enum Mutation: String, Sendable, CaseIterable {
        /// One read returns a value no write made (always a violation).
        case phantomRead = "phantom-read"
        /// One read returns the value its key had before an earlier write took effect
        /// (a violation unless that write overlaps the read).
        case staleRead = "stale-read"
        /// One append or write is acknowledged but never takes effect.
        case lostWrite = "lost-write"
        /// Two reads of one key swap their results.
        case swappedReads = "swapped-reads"
    }

    /// Concurrent clients (Jepsen's processes).
    public var clients: Int = 50
    /// Keys, chosen uniformly per operation.
    public var keys: Int = 10
    /// Operations invoked in all.
    public var operations: Int = 2000
    /// The mix of functions, as weights: read (get), write (put), append.
    public var readWeight: Double = 45
    public var writeWeight: Double = 5
    public var appendWeight: Double = 50
    /// Means of the exponential delays, in time units: invocation → effect, effect → return,
    /// and a client's think time between operations.
    public var meanEffectDelay: Double = 1
    public var meanReturnDelay: Double = 1
    public var meanThinkTime: Double = 0.5
    /// Probability that an operation's completion is lost (`info`): the operation still
    /// takes effect (or, with equal probability, never does) and its client crashes; a new
    /// client id takes its place, as in Jepsen.
    public var infoProbability: Double = 0
    /// Nanoseconds per time unit, for the events' `time` fields.
    public var nanosecondsPerUnit: Double = 1_000_000

    public init() {}

    /// A history from `seed`, with `mutation` planted if given.
    ///
    /// The mutation is planted at a random eligible place; if the history has none (say, a
    /// stale read in a history with no read after a write), it is returned unchanged and
    /// `planted` is false.
    public func generate(seed: UInt64, mutation: Mutation? = nil) -> (history: History, planted: Bool) {
        var rng = SplitMix64(seed: seed)
        var simulation = Simulation(generator: self)
        simulation.run(&rng)
        var planted = false
        if let mutation { planted = simulation.plant(mutation, &rng) }
        return (simulation.history(), planted)
    }
}

/// SplitMix64: small, fast, seeded; the generator's only source of randomness.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// An exponential delay with this mean.
    mutating func exponential(mean: Double) -> Double {
        guard mean > 0 else { return 0 }
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        return -mean * log(u)
    }
}

/// One run of the simulated map.
private struct Simulation {
    /// A recorded operation (before mutation): what the history will say about it.
    struct Record {
        var process: Int
        var function: String
        var key: String
        var input: Value
        var output: Value
        var invoke: Double
        var effect: Double
        var complete: Double
        /// False for an `info` operation that never took effect.
        var tookEffect: Bool
        var info: Bool
        /// The key's value before the effect (for stale reads).
        var before: Value
    }

    let generator: HistoryGenerator
    var records: [Record] = []

    init(generator: HistoryGenerator) { self.generator = generator }

    mutating func run(_ rng: inout SplitMix64) {
        // Each client's next invocation time; a simple scan picks the earliest (50 clients:
        // a heap would not pay for itself). Effects are applied in time order by scheduling
        // them as events too.
        let clients = max(1, generator.clients)
        var nextInvoke = (0..<clients).map { _ in rng.exponential(mean: generator.meanThinkTime) }
        var processOf = Array(0..<clients)
        var nextProcess = clients
        var appendCounter = [Int](repeating: 0, count: clients)
        // Pending effects: (time, record index), kept sorted by time.
        var effects: [(time: Double, record: Int)] = []
        var map: [String: String] = [:]
        let total = generator.readWeight + generator.writeWeight + generator.appendWeight
        var invoked = 0

        func applyEffects(upTo time: Double, _ records: inout [Record], _ map: inout [String: String]) {
            while let first = effects.first, first.time <= time {
                effects.removeFirst()
                var r = records[first.record]
                let current = map[r.key] ?? ""
                r.before = .string(current)
                if r.tookEffect {
                    switch r.function {
                    case "read": r.output = .string(current)
                    case "write": map[r.key] = r.input.text ?? ""
                    default: map[r.key] = current + (r.input.text ?? "")
                    }
                }
                records[first.record] = r
            }
        }

        while invoked < generator.operations {
            var client = 0
            for c in 1..<clients where nextInvoke[c] < nextInvoke[client] { client = c }
            let start = nextInvoke[client]
            applyEffects(upTo: start, &records, &map)
            let roll = Double.random(in: 0..<total, using: &rng)
            let function = roll < generator.readWeight ? "read" : roll < generator.readWeight + generator.writeWeight ? "write" : "append"
            let key = String(Int.random(in: 0..<max(1, generator.keys), using: &rng))
            let process = processOf[client]
            var input: Value = .null
            if function != "read" {
                input = .string("x \(process) \(appendCounter[client]) y")
                appendCounter[client] += 1
            }
            let effect = start + rng.exponential(mean: generator.meanEffectDelay)
            let complete = effect + rng.exponential(mean: generator.meanReturnDelay)
            let info = generator.infoProbability > 0 && Double.random(in: 0..<1, using: &rng) < generator.infoProbability
            let tookEffect = !info || Bool.random(using: &rng)
            records.append(Record(process: process, function: function, key: key, input: input, output: input,
                                  invoke: start, effect: effect, complete: complete, tookEffect: tookEffect, info: info,
                                  before: .null))
            let index = effects.firstIndex { $0.time > effect } ?? effects.count
            effects.insert((effect, records.count - 1), at: index)
            nextInvoke[client] = complete + rng.exponential(mean: generator.meanThinkTime)
            if info {
                // The client crashed; Jepsen gives its successor a fresh process id.
                processOf[client] = nextProcess
                nextProcess += 1
            }
            invoked += 1
        }
        applyEffects(upTo: .infinity, &records, &map)
    }

    /// Plants `mutation`; false if the history has no place for it.
    mutating func plant(_ mutation: HistoryGenerator.Mutation, _ rng: inout SplitMix64) -> Bool {
        let reads = records.indices.filter { records[$0].function == "read" && !records[$0].info }
        switch mutation {
        case .phantomRead:
            guard let r = reads.randomElement(using: &rng) else { return false }
            // No client writes "phantom": the value cannot come from any write.
            records[r].output = .string((records[r].output.text ?? "") + "x phantom y")
            return true
        case .staleRead:
            // A read whose key changed since some write completed before the read began:
            // return the value from before that write.
            let candidates = reads.filter { stalePrefix(of: $0) != nil }
            guard let r = candidates.randomElement(using: &rng), let stale = stalePrefix(of: r) else { return false }
            records[r].output = stale
            return true
        case .lostWrite:
            let writes = records.indices.filter { records[$0].function != "read" && !records[$0].info }
            guard let w = writes.randomElement(using: &rng) else { return false }
            // Replay the key without w's effect: reads of the key after w see the value as if
            // w had never happened.
            let key = records[w].key
            let order = records.indices.filter { records[$0].key == key && records[$0].tookEffect && $0 != w }
                .sorted { records[$0].effect < records[$1].effect }
            var value = ""
            for i in order {
                switch records[i].function {
                case "read": records[i].output = .string(value)
                case "write": value = records[i].input.text ?? ""
                default: value += records[i].input.text ?? ""
                }
            }
            return true
        case .swappedReads:
            let byKey = Dictionary(grouping: reads) { records[$0].key }.values.filter { $0.count >= 2 }
            guard let group = byKey.randomElement(using: &rng) else { return false }
            let a = group.randomElement(using: &rng)!
            var b = group.randomElement(using: &rng)!
            if a == b { b = group.first { $0 != a }! }
            let saved = records[a].output
            records[a].output = records[b].output
            records[b].output = saved
            return true
        }
    }

    /// The value the read `r`'s key had before the last write to it that completed before
    /// `r` was invoked — a value a linearizable store may no longer return — if that differs
    /// from what `r` read.
    func stalePrefix(of r: Int) -> Value? {
        let read = records[r]
        let completedBefore = records.indices.filter {
            records[$0].key == read.key && records[$0].function != "read" && records[$0].tookEffect && !records[$0].info
                && records[$0].complete < read.invoke
        }
        guard let w = completedBefore.max(by: { records[$0].effect < records[$1].effect }) else { return nil }
        let stale = records[w].before
        return stale == read.output ? nil : stale
    }

    /// The events, in time order.
    func history() -> History {
        var timed: [(time: Double, order: Int, event: Event)] = []
        timed.reserveCapacity(records.count * 2)
        let scale = generator.nanosecondsPerUnit
        for (i, r) in records.enumerated() {
            let key = Value.string(r.key)
            timed.append((r.invoke, 2 * i, Event(.invoke, process: r.process, function: r.function, key: key,
                                                  value: r.function == "read" ? .null : r.input,
                                                  time: Int64(r.invoke * scale))))
            let kind: Event.Kind = r.info ? .info : .ok
            timed.append((r.complete, 2 * i + 1, Event(kind, process: r.process, function: r.function, key: key,
                                                        value: r.info ? (r.function == "read" ? .null : r.input) : r.output,
                                                        time: Int64(r.complete * scale))))
        }
        timed.sort { $0.time != $1.time ? $0.time < $1.time : $0.order < $1.order }
        return History(events: timed.map(\.event))
    }
}
