// The nemesis's plan for one run: which fault starts when, on whom, drawn from the experiment's seed.

import KVCore

/// One planned fault.
public struct PlannedFault: Sendable, Equatable {
    /// Seconds after the workload starts.
    public var start: Double
    /// Seconds after the workload starts when it is healed.
    public var end: Double
    public var kind: Experiment.FaultKind
    /// Whom it hits: the primary at the time, or a node or replica picked by index (taken
    /// modulo the candidates when the fault starts, so the plan does not depend on roles).
    public var target: Experiment.FaultTarget
    public var pick: Int
}

/// The seeded schedule: a fault every `interval` from `first`, each lasting `faultDuration`,
/// kinds drawn uniformly from the plan's kinds. The same seed gives the same schedule.
public enum FaultSchedule {
    /// The faults that start and heal within `duration` seconds.
    public static func plan(_ nemesis: Experiment.NemesisPlan, duration: Double) -> [PlannedFault] {
        guard !nemesis.kinds.isEmpty else { return [] }
        var random = SeededRandom(seed: nemesis.seed)
        var faults: [PlannedFault] = []
        var start = nemesis.firstFaultSeconds
        while start + nemesis.faultDurationSeconds <= duration && faults.count < 10_000 {
            let kind = nemesis.kinds[Int(random.next(below: UInt64(nemesis.kinds.count)))]
            let pick = Int(random.next(below: 1 << 16))
            faults.append(PlannedFault(start: start, end: start + nemesis.faultDurationSeconds, kind: kind,
                                       target: nemesis.target, pick: pick))
            start += nemesis.intervalSeconds
        }
        return faults
    }
}
