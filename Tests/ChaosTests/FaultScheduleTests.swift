// The nemesis plan: reproducible from its seed, inside the run, never overlapping.

import Chaos
import Foundation
import Testing

@Suite("Chaos fault schedule")
struct FaultScheduleTests {
    static func nemesis(seed: UInt64) -> Experiment.NemesisPlan {
        Experiment.NemesisPlan(kinds: [.kill, .pause, .partitionIsolateNode, .lagThenKill], target: .random, intervalSeconds: 4,
                               faultDurationSeconds: 2, firstFaultSeconds: 1, seed: seed, lagMilliseconds: 100)
    }

    @Test("the same seed gives the same schedule and another seed another one")
    func seedReproducesTheSchedule() {
        let a = FaultSchedule.plan(Self.nemesis(seed: 11), duration: 200)
        #expect(a == FaultSchedule.plan(Self.nemesis(seed: 11), duration: 200))
        #expect(a != FaultSchedule.plan(Self.nemesis(seed: 12), duration: 200))
        #expect(Set(a.map(\.kind)).count == 4)
    }

    @Test("faults start on the interval, heal before the next one and within the run")
    func faultsFitTheRun() {
        let plan = FaultSchedule.plan(Self.nemesis(seed: 3), duration: 20)
        #expect(plan.map(\.start) == [1, 5, 9, 13, 17])
        #expect(plan.allSatisfy { $0.end == $0.start + 2 && $0.end <= 20 })
    }

    @Test("a plan with disk kinds draws both of them from the seed, reproducibly, with a pick for the target")
    func diskKindsFromTheSeed() {
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? 15
        print("KVLAB_SEED=\(seed)")
        var nemesis = Self.nemesis(seed: seed)
        nemesis.kinds = [.diskFsyncError, .diskFull]
        let plan = FaultSchedule.plan(nemesis, duration: 100)
        #expect(plan == FaultSchedule.plan(nemesis, duration: 100))
        #expect(plan.count == 25)   // 1, 5, ... 97 (97 + 2 <= 100)
        #expect(Set(plan.map(\.kind)) == [.diskFsyncError, .diskFull])
        #expect(plan.allSatisfy { $0.kind.isDiskFault && $0.target == .random })
        #expect(Set(plan.map(\.pick)).count > 1)
    }

    @Test("no kinds, no faults")
    func noKindsNoFaults() {
        var nemesis = Self.nemesis(seed: 1)
        nemesis.kinds = []
        #expect(FaultSchedule.plan(nemesis, duration: 100).isEmpty)
    }
}
