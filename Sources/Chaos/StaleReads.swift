// Stale reads in a register history: reads that returned a value older than one already acknowledged, with how stale and when.

import History

/// A read that returned `value` although `newerValue` had been acknowledged before the read
/// began and no write of `value` could have come after it: proof of a non-linearizable (stale)
/// read, with the evidence spelt out.
public struct StaleRead: Sendable, Equatable, Codable {
    public var key: String
    public var process: Int
    /// What the read returned ("nil" for a missing key).
    public var value: String
    /// Seconds since the run's start.
    public var invokedAt: Double
    public var completedAt: Double
    /// The first value acknowledged after every write of `value` had ended: from then on the
    /// read value was certainly overwritten.
    public var newerValue: String
    /// When that write was invoked and acknowledged.
    public var newerInvokedAt: Double
    public var newerAcknowledgedAt: Double
    /// How old the value read was: from that overwrite's acknowledgement to the read's start.
    public var stalenessSeconds: Double
}

/// The stale reads of a run, and where they fall relative to the faults.
public struct StaleReadAnalysis: Sendable, Equatable, Codable {
    /// `ok` reads examined.
    public var reads: Int
    /// Stale reads found (a lower bound: the test is sound, not complete).
    public var staleReads: Int
    /// Of them, reads invoked while a fault was active.
    public var duringFaults: Int
    public var maximumStalenessSeconds: Double
    /// The stalest read, the stalest invoked during a fault, then the first ones in time (at
    /// most 10 in all).
    public var examples: [StaleRead]
}

extension HistoryAnalysis {
    /// Finds stale reads on each key of a read/write/cas register history.
    ///
    /// A read r of v is stale when some write or cas w of a value u ≠ v was acknowledged before
    /// r was invoked and no write or cas of v (acknowledged, indeterminate or pending) could have
    /// taken effect after w and before r completed — i.e. none was invoked before r completed
    /// and ended after w was invoked (or never ended). Then w precedes r in every linearization,
    /// the register holds u after w, and nothing can bring back v: r saw an older state. A key
    /// starts absent (nil), as if written before everything. Sound (every stale read listed is
    /// one); not complete (a read explained by an overlapping write is not listed even when the
    /// full checker rejects it). Failed operations changed nothing and are ignored.
    public static func staleReads(_ history: History, startTime: Int64, faults: [FaultWindow] = []) -> StaleReadAnalysis {
        struct Operation {
            var function: String
            var value: Value
            var invoked: Int64
            var completed: Int64?   // nil: indeterminate or pending
            var ok: Bool
            var process: Int
        }
        var pending: [Int: Event] = [:]
        var byKey: [String: [Operation]] = [:]
        for event in history.events {
            guard let time = event.time else { continue }
            if event.kind == .invoke { pending[event.process] = event; continue }
            guard let invocation = pending.removeValue(forKey: event.process), let invoked = invocation.time else { continue }
            if event.kind == .fail { continue }
            let ok = event.kind == .ok
            byKey[keyText(event.key), default: []].append(Operation(function: event.function, value: ok ? event.value : invocation.value,
                                                                    invoked: invoked, completed: ok ? time : nil, ok: ok, process: event.process))
        }
        for (_, invocation) in pending {
            guard let invoked = invocation.time, invocation.function != "read" else { continue }
            byKey[keyText(invocation.key), default: []].append(Operation(function: invocation.function, value: invocation.value,
                                                                         invoked: invoked, completed: nil, ok: false, process: invocation.process))
        }
        func written(_ op: Operation) -> Value? {
            switch op.function {
            case "write": return op.value
            case "cas": return op.value.elements.flatMap { $0.count == 2 ? $0[1] : nil }
            default: return nil
            }
        }
        func seconds(_ t: Int64) -> Double { round3(Double(t - startTime) / 1e9) }
        func text(_ v: Value) -> String { v.isNull ? "nil" : v.description }

        var reads = 0
        var found: [StaleRead] = []
        for (key, operations) in byKey.sorted(by: { $0.key < $1.key }) {
            let writes = operations.compactMap { op in written(op).map { (op, $0) } }
            // Acknowledged writes by completion time, for the "latest-invoked acknowledged before r" lookups.
            let acknowledged = writes.filter { $0.0.ok }.sorted { $0.0.completed! < $1.0.completed! }
            for read in operations where read.function == "read" && read.ok {
                reads += 1
                guard let readCompleted = read.completed else { continue }
                let v = read.value
                // The strongest witness: among writes of another value acknowledged before the
                // read began, the one invoked last (it leaves the least room for a write of v).
                var witness: (Operation, Value)?
                for (w, u) in acknowledged {
                    guard w.completed! < read.invoked else { break }
                    if u != v, witness.map({ w.invoked > $0.0.invoked }) ?? true { witness = (w, u) }
                }
                guard let (w, u) = witness else { continue }   // (also: a nil read with no write before it is fine)
                let explained = writes.contains { x, value in
                    value == v && x.invoked < readCompleted && (x.completed.map { $0 > w.invoked } ?? true)
                }
                if explained { continue }
                // How old the value is: every write of v that could precede the read ended by
                // `lastOfV`; the first write of another value invoked after that and acknowledged
                // overwrote v for good. (A key's initial nil ends at the run's start.)
                let lastOfV = writes.filter { $0.1 == v && $0.0.invoked < readCompleted }.compactMap(\.0.completed).max() ?? Int64.min
                let overwrite = acknowledged.first { $0.1 != v && $0.0.invoked > lastOfV && $0.0.completed! < read.invoked } ?? (w, u)
                found.append(StaleRead(key: key, process: read.process, value: text(v), invokedAt: seconds(read.invoked),
                                       completedAt: seconds(readCompleted), newerValue: text(overwrite.1),
                                       newerInvokedAt: seconds(overwrite.0.invoked), newerAcknowledgedAt: seconds(overwrite.0.completed!),
                                       stalenessSeconds: round3(Double(read.invoked - overwrite.0.completed!) / 1e9)))
            }
        }
        found.sort { ($0.invokedAt, $0.key, $0.process) < ($1.invokedAt, $1.key, $1.process) }
        func duringFault(_ r: StaleRead) -> Bool { faults.contains { $0.start <= r.invokedAt && r.invokedAt < ($0.end ?? .infinity) } }
        var examples: [StaleRead] = []
        if let stalest = found.max(by: { $0.stalenessSeconds < $1.stalenessSeconds }) { examples.append(stalest) }
        if let stalestInFault = found.filter(duringFault).max(by: { $0.stalenessSeconds < $1.stalenessSeconds }),
           !examples.contains(stalestInFault) { examples.append(stalestInFault) }
        for r in found where examples.count < 10 && !examples.contains(r) { examples.append(r) }
        return StaleReadAnalysis(reads: reads, staleReads: found.count, duringFaults: found.filter(duringFault).count,
                                 maximumStalenessSeconds: found.map(\.stalenessSeconds).max() ?? 0, examples: examples)
    }
}
