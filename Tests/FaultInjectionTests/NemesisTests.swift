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

    var isHealed: Bool { lock.withLock { down.isEmpty && stopped.isEmpty && groups.isEmpty && delay == 0 } }
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
