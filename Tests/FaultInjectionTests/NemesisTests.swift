// The nemesis: reproducible schedules, and a run against recording hooks that ends healed.

import Foundation
import KVCore
import Testing
@testable import FaultInjection

/// Hooks that record calls and keep the cluster state a real cluster would have.
final class RecordingHooks: NemesisHooks, @unchecked Sendable {
    let nodeNames: [String]
    private let lock = Lock()
    private(set) var calls: [String] = []
    private(set) var down: Set<String> = []
    private(set) var stopped: Set<String> = []
    private(set) var groups: [[String]] = []
    private(set) var delay = 0
    private(set) var faultedDisks: [String: NemesisDiskFault] = [:]
    var primary: String?

    init(nodes: [String], primary: String?) {
        nodeNames = nodes
        self.primary = primary
    }

    private func note(_ call: String) { lock.withLock { calls.append(call) } }
    func currentPrimary() -> String? { lock.withLock { primary } }
    func kill(node: String) throws { note("kill \(node)"); lock.withLock { _ = down.insert(node) } }
    func restart(node: String) throws { note("restart \(node)"); lock.withLock { _ = down.remove(node) } }
    func pause(node: String) throws { note("pause \(node)"); lock.withLock { _ = stopped.insert(node) } }
    func resume(node: String) throws { note("resume \(node)"); lock.withLock { _ = stopped.remove(node) } }
    func partition(_ groups: [[String]]) throws { note("partition \(groups)"); lock.withLock { self.groups = groups } }
    func setReplicationDelay(milliseconds: Int) throws { note("delay \(milliseconds)"); lock.withLock { delay = milliseconds } }
    func healNetwork() throws { note("heal"); lock.withLock { groups = [] } }
    func setDiskFault(node: String, _ fault: NemesisDiskFault) throws {
        note("disk \(fault.rawValue) \(node)")
        lock.withLock { faultedDisks[node] = fault }
    }
    func healDiskFault(node: String) throws -> String {
        note("disk none \(node)")
        lock.withLock { _ = faultedDisks.removeValue(forKey: node) }
        return "DEBUG DISKFAULT none on \(node)"
    }

    var isHealed: Bool { lock.withLock { down.isEmpty && stopped.isEmpty && groups.isEmpty && delay == 0 && faultedDisks.isEmpty } }
}

@Suite("Nemesis")
struct NemesisTests {
    let nodes = ["n1", "n2", "n3", "n4", "n5"]

    func configuration(seed: UInt64) -> NemesisConfiguration {
        NemesisConfiguration(seed: seed, intervalSeconds: 10, holdSeconds: 4, kinds: NemesisFaultKind.allCases,
                             nodes: nodes, durationSeconds: 300)
    }

    @Test("the same seed gives the same schedule, another seed another one")
    func reproducible() throws {
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? 15
        print("KVLAB_SEED=\(seed)")
        let first = try NemesisSchedule(configuration(seed: seed))
        let second = try NemesisSchedule(configuration(seed: seed))
        let other = try NemesisSchedule(configuration(seed: seed &+ 1))
        #expect(first == second)
        #expect(first.steps.count == 29)   // starts at 10, 20, ... 290 (290 + 4 <= 300)
        #expect(first.steps.map(\.fault) != other.steps.map(\.fault))
        #expect(Set(first.steps.map(\.fault.kind)).count > 3)
        for step in first.steps {
            #expect(step.healSeconds - step.startSeconds == 4)
            if case .majoritySplit(let minority) = step.fault { #expect(minority.count == 2) }
        }
    }

    @Test("a configuration that cannot make a schedule is rejected with the reason")
    func invalid() {
        #expect(throws: FaultInjectionError.self) { try NemesisSchedule(NemesisConfiguration(seed: 1, intervalSeconds: 1, kinds: [], nodes: ["n1"], durationSeconds: 5)) }
        #expect(throws: FaultInjectionError.self) { try NemesisSchedule(NemesisConfiguration(seed: 1, intervalSeconds: 1, holdSeconds: 1, kinds: [.kill], nodes: ["n1"], durationSeconds: 5)) }
        #expect(throws: FaultInjectionError.self) { try NemesisSchedule(NemesisConfiguration(seed: 1, intervalSeconds: 0, kinds: [.kill], nodes: ["n1"], durationSeconds: 5)) }
    }

    @Test("primary-in-minority puts the current primary on the minority side")
    func primaryInMinority() throws {
        let hooks = RecordingHooks(nodes: nodes, primary: "n4")
        let schedule = try NemesisSchedule(NemesisConfiguration(seed: 3, intervalSeconds: 1, kinds: [.primaryInMinority], nodes: nodes, durationSeconds: 10))
        let nemesis = Nemesis(schedule: schedule, hooks: hooks)
        for step in schedule.steps {
            let groups = try #require(nemesis.groups(for: step.fault))
            #expect(groups[0].count == 2 && groups[0].contains("n4"))
            #expect(Set(groups[0] + groups[1]) == Set(nodes) && groups[1].count == 3)
        }
    }

    @Test("a run applies every step then heals it, records a start and a heal for each, and ends healed")
    func run() throws {
        let hooks = RecordingHooks(nodes: nodes, primary: "n2")
        let schedule = try NemesisSchedule(NemesisConfiguration(seed: 7, intervalSeconds: 0.04, holdSeconds: 0.02,
                                                                kinds: NemesisFaultKind.allCases, nodes: nodes,
                                                                target: .primary, durationSeconds: 0.5))
        let nemesis = Nemesis(schedule: schedule, hooks: hooks)
        nemesis.run()
        let timeline = nemesis.timeline
        #expect(timeline.filter { $0.phase == .error }.isEmpty)
        #expect(timeline.filter { $0.phase == .start }.map(\.kind) == schedule.steps.map(\.fault.kind))
        #expect(timeline.filter { $0.phase == .heal }.count >= schedule.steps.count)
        #expect(zip(timeline, timeline.dropFirst()).allSatisfy { $0.time <= $1.time })
        for event in timeline where event.phase == .start && (event.kind == .kill || event.kind == .pause) {
            #expect(event.targets == ["n2"])   // target .primary resolved to the primary of the moment
        }
        #expect(hooks.isHealed)
    }

    @Test("a seed draws disk-fsync-error and disk-full steps on seeded nodes, the same ones again from the same seed")
    func diskFaultSchedule() throws {
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? 21
        print("KVLAB_SEED=\(seed)")
        let configuration = NemesisConfiguration(seed: seed, intervalSeconds: 5, holdSeconds: 2,
                                                 kinds: [.diskFsyncError, .diskFull], nodes: nodes, durationSeconds: 200)
        let schedule = try NemesisSchedule(configuration)
        #expect(schedule == (try NemesisSchedule(configuration)))
        #expect(schedule.steps.count == 39)   // 5, 10, ... 195 (195 + 2 <= 200)
        var kinds: Set<NemesisFaultKind> = []
        var targets: Set<String> = []
        for step in schedule.steps {
            guard case .disk(.node(let node), let fault) = step.fault else {
                Issue.record("not a disk fault on a node: \(step.fault)")
                continue
            }
            #expect(step.fault.kind == fault.kind && nodes.contains(node))
            kinds.insert(step.fault.kind)
            targets.insert(node)
        }
        #expect(kinds == [.diskFsyncError, .diskFull])
        #expect(targets.count > 1)
        // Targeting the primary leaves the node to the moment of the fault.
        var onPrimary = configuration
        onPrimary.target = .primary
        #expect(try NemesisSchedule(onPrimary).steps.allSatisfy { if case .disk(.primary, _) = $0.fault { true } else { false } })
    }

    @Test("a disk fault is switched on the primary of the moment, cleared at its heal, and both are timeline events")
    func diskFaultRun() throws {
        let hooks = RecordingHooks(nodes: nodes, primary: "n3")
        let schedule = try NemesisSchedule(NemesisConfiguration(seed: 5, intervalSeconds: 0.04, holdSeconds: 0.02,
                                                                kinds: [.diskFull, .diskFsyncError], nodes: nodes,
                                                                target: .primary, durationSeconds: 0.2))
        let nemesis = Nemesis(schedule: schedule, hooks: hooks)
        nemesis.run()
        let timeline = nemesis.timeline
        #expect(timeline.filter { $0.phase == .error }.isEmpty)
        let starts = timeline.filter { $0.phase == .start }
        #expect(starts.map(\.kind) == schedule.steps.map(\.fault.kind))
        #expect(starts.allSatisfy { $0.targets == ["n3"] && $0.detail.hasPrefix("DEBUG DISKFAULT ") })
        #expect(timeline.filter { $0.phase == .heal }.map(\.detail).allSatisfy { $0 == "DEBUG DISKFAULT none on n3" })
        #expect(timeline.filter { $0.phase == .heal }.count == starts.count)
        #expect(hooks.calls.first == "disk \(schedule.steps[0].fault.kind == .diskFull ? "disk-full" : "fsync-error") n3")
        #expect(hooks.isHealed)
    }

    @Test("hooks without a disk-fault layer turn a disk fault into an error event, not a crash")
    func diskFaultWithoutLayer() throws {
        final class NoDiskHooks: NemesisHooks, @unchecked Sendable {
            let nodeNames = ["n1"]
            func currentPrimary() -> String? { "n1" }
            func kill(node: String) throws {}
            func restart(node: String) throws {}
            func pause(node: String) throws {}
            func resume(node: String) throws {}
            func partition(_ groups: [[String]]) throws {}
            func setReplicationDelay(milliseconds: Int) throws {}
            func healNetwork() throws {}
        }
        let schedule = try NemesisSchedule(NemesisConfiguration(seed: 1, intervalSeconds: 0.02, holdSeconds: 0.01,
                                                                kinds: [.diskFull], nodes: ["n1"], durationSeconds: 0.03))
        let nemesis = Nemesis(schedule: schedule, hooks: NoDiskHooks())
        nemesis.run()
        let errors = nemesis.timeline.filter { $0.phase == .error }
        #expect(errors.count == 1 && errors[0].kind == .diskFull && errors[0].detail.contains("no disk-fault layer"))
    }

    @Test("stopping in the middle of a fault heals it")
    func stopHeals() throws {
        let hooks = RecordingHooks(nodes: nodes, primary: "n1")
        let schedule = try NemesisSchedule(NemesisConfiguration(seed: 1, intervalSeconds: 0.05, holdSeconds: 0.04,
                                                                kinds: [.pause], nodes: nodes, durationSeconds: 60))
        let nemesis = Nemesis(schedule: schedule, hooks: hooks)
        nemesis.start()
        #expect(eventually(seconds: 10) { nemesis.timeline.contains { $0.phase == .start } })
        nemesis.stopAndHeal()
        #expect(hooks.isHealed)
        #expect(nemesis.timeline.count < 2 * schedule.steps.count)
    }
}
