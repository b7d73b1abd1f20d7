// The election and failover rules, on simulated sentinels and nodes with a virtual clock.

import Foundation
import KVClient
import RESP
import Testing
@testable import Sentinel

/// The seed of a randomized test: KVLAB_SEED replays one, else a fixed base (printed either way).
func testSeeds(_ count: Int, base: UInt64) -> [UInt64] {
    if let text = ProcessInfo.processInfo.environment["KVLAB_SEED"], let seed = UInt64(text) { return [seed] }
    return (0..<UInt64(count)).map { base &+ $0 }
}

@Suite("Sentinel election")
struct ElectionTests {
    let primary = SimulatedGroup.primary
    let replicaA = SimulatedGroup.replicaA
    let replicaB = SimulatedGroup.replicaB

    @Test("a sentinel votes once per epoch, for the first asker, and adopts a higher epoch")
    func votesOncePerEpoch() {
        var c = SentinelConfiguration(masterName: "m", master: primary, quorum: 2,
                                      peers: [RedisEndpoint(host: "x", port: 1), RedisEndpoint(host: "y", port: 1)],
                                      runID: "me", announced: RedisEndpoint(host: "z", port: 1))
        c.downAfterMilliseconds = 1000
        var m = SentinelMonitor(configuration: c, now: 0, seed: 1)
        let first = m.answerVoteRequest(SentinelVoteRequest(master: primary, epoch: 1, runID: "alice"), now: 10)
        #expect(first.leader == "alice" && first.leaderEpoch == 1)
        #expect(m.currentEpoch == 1)
        let second = m.answerVoteRequest(SentinelVoteRequest(master: primary, epoch: 1, runID: "bob"), now: 20)
        #expect(second.leader == "alice" && second.leaderEpoch == 1, "a second request in the same epoch gets the first vote back")
        let stale = m.answerVoteRequest(SentinelVoteRequest(master: primary, epoch: 0, runID: "carol"), now: 30)
        #expect(stale.leader == "alice" && stale.leaderEpoch == 1, "an older epoch gets no vote")
        let next = m.answerVoteRequest(SentinelVoteRequest(master: primary, epoch: 2, runID: "bob"), now: 40)
        #expect(next.leader == "bob" && next.leaderEpoch == 2)
        let probe = m.answerVoteRequest(SentinelVoteRequest(master: primary, epoch: 3, runID: "*"), now: 50)
        #expect(probe.leader == nil && probe.leaderEpoch == 0 && !probe.masterDown, "'*' asks for the down state only")
        let other = m.answerVoteRequest(SentinelVoteRequest(master: RedisEndpoint(host: "elsewhere", port: 1), epoch: 9, runID: "dave"), now: 60)
        #expect(other.leader == nil && m.currentEpoch == 2, "no vote for a primary this sentinel does not monitor")
    }

    @Test("a leader needs max(majority, quorum) votes: one of three votes elects nobody, two do")
    func leaderNeedsMajority() {
        var c = SentinelConfiguration(masterName: "m", master: primary, quorum: 1,
                                      peers: [RedisEndpoint(host: "x", port: 1), RedisEndpoint(host: "y", port: 1)],
                                      runID: "me", announced: RedisEndpoint(host: "z", port: 1))
        c.downAfterMilliseconds = 1000
        var m = SentinelMonitor(configuration: c, now: 0, seed: 1)
        m.currentEpoch = 5
        #expect(m.electedLeader(epoch: 5, now: 0) == nil, "its own vote alone is 1 of 3")
        m.peers[RedisEndpoint(host: "x", port: 1)]!.leader = "me"
        m.peers[RedisEndpoint(host: "x", port: 1)]!.leaderEpoch = 4
        #expect(m.electedLeader(epoch: 5, now: 0) == nil, "a vote from another epoch does not count")
        m.peers[RedisEndpoint(host: "x", port: 1)]!.leaderEpoch = 5
        #expect(m.electedLeader(epoch: 5, now: 0) == "me")

        var five = SentinelConfiguration(masterName: "m", master: primary, quorum: 4,
                                         peers: (1...4).map { RedisEndpoint(host: "p\($0)", port: 1) },
                                         runID: "me", announced: RedisEndpoint(host: "z", port: 1))
        five.downAfterMilliseconds = 1000
        var q = SentinelMonitor(configuration: five, now: 0, seed: 1)
        q.currentEpoch = 1
        for k in 1...2 { q.peers[RedisEndpoint(host: "p\(k)", port: 1)]!.leader = "me"; q.peers[RedisEndpoint(host: "p\(k)", port: 1)]!.leaderEpoch = 1 }
        #expect(q.electedLeader(epoch: 1, now: 0) == nil, "3 of 5 is a majority but below quorum 4")
        q.peers[RedisEndpoint(host: "p3", port: 1)]!.leader = "me"
        q.peers[RedisEndpoint(host: "p3", port: 1)]!.leaderEpoch = 1
        #expect(q.electedLeader(epoch: 1, now: 0) == "me")
    }

    @Test("three sentinels fail a dead primary over to the replica with the highest offset, with one winner per epoch",
          arguments: testSeeds(10, base: 1500))
    func failoverToHighestOffset(seed: UInt64) {
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        // Replica B is ahead this time, so the choice is not the address order's.
        var group = SimulatedGroup(sentinels: 3, quorum: 2, seed: seed, offsetA: 500, offsetB: 800)
        group.run(until: 3000)
        #expect(group.sentinels.allSatisfy { $0.replicas.count == 2 }, "replicas discovered from the primary's INFO")
        group.nodes[primary]!.alive = false
        group.run(until: 20_000)
        #expect(group.reportedPrimaries == [replicaB, replicaB, replicaB], "every sentinel names the promoted replica")
        #expect(group.nodes[replicaB]!.isPrimary)
        #expect(group.nodes[replicaA]!.primary == replicaB, "the other replica follows the new primary")
        var winners: [UInt64: Set<Int>] = [:]
        for e in group.elections { winners[e.epoch, default: []].insert(e.sentinel) }
        #expect(!winners.isEmpty)
        #expect(winners.values.allSatisfy { $0.count == 1 }, "one winner per epoch: \(winners)")
        let promotions = group.replicaOfSent.filter { $0.primary == nil }
        #expect(Set(promotions.map(\.sentinel)).count == 1, "only the elected sentinel promotes: \(promotions)")
        let configEpochs = Set(group.sentinels.map(\.configEpoch))
        #expect(configEpochs.count == 1 && configEpochs.first! > 0, "the new configuration's epoch reached every sentinel")
    }

    @Test("sentinels that ask for votes at the same moment elect at most one leader per epoch",
          arguments: testSeeds(12, base: 7000))
    func simultaneousCandidates(seed: UInt64) {
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        // No start delay: every sentinel asks for votes at once, the case the vote rule must
        // hold in. (Without the delay nothing breaks the symmetry, so votes may split in every
        // epoch and no failover happen: that is the delay's job, tested below.)
        var group = SimulatedGroup(sentinels: 5, quorum: 2, seed: seed, maxLatency: 80) { $0.maximumStartDelayMilliseconds = 0 }
        group.run(until: 2000)
        group.nodes[primary]!.alive = false
        group.run(until: 40_000)
        #expect(group.events.contains { $0.contains { $0.name == "+try-failover" } })
        var winners: [UInt64: Set<Int>] = [:]
        for e in group.elections { winners[e.epoch, default: []].insert(e.sentinel) }
        #expect(winners.values.allSatisfy { $0.count == 1 }, "one winner per epoch: \(winners)")
        let promoters = Set(group.replicaOfSent.filter { $0.primary == nil }.map(\.sentinel))
        #expect(promoters.isSubset(of: Set(group.elections.map(\.sentinel))), "only elected sentinels promote")
        #expect(group.nodes.values.filter(\.isPrimary).count <= 2, "at most the dead primary and one promoted replica")
    }

    @Test("with the random start delay, five sentinels converge on one new primary and one leader per epoch",
          arguments: testSeeds(12, base: 9100))
    func fiveSentinelsConverge(seed: UInt64) {
        print("seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var group = SimulatedGroup(sentinels: 5, quorum: 3, seed: seed, maxLatency: 80)
        group.run(until: 2000)
        group.nodes[primary]!.alive = false
        group.run(until: 40_000)
        var winners: [UInt64: Set<Int>] = [:]
        for e in group.elections { winners[e.epoch, default: []].insert(e.sentinel) }
        #expect(winners.values.allSatisfy { $0.count == 1 }, "one winner per epoch: \(winners)")
        let named = Set(group.reportedPrimaries)
        #expect(named.count == 1 && named.first == replicaA, "all sentinels name the replica with the highest offset: \(group.reportedPrimaries)")
    }

    @Test("a minority of sentinels that sees the primary down cannot fail it over, even with quorum 1")
    func minorityCannotFailOver() {
        var group = SimulatedGroup(sentinels: 3, quorum: 1, seed: 42)
        group.run(until: 3000)
        // Sentinel 0 loses the primary and its peers: it alone calls the primary down (ODOWN
        // with quorum 1) and asks for votes nobody can give.
        group.partition(sentinel: 0, from: primary)
        group.partition(sentinel: 0, from: group.addresses[1])
        group.partition(sentinel: 0, from: group.addresses[2])
        group.run(until: 40_000)
        #expect(group.events[0].contains { $0.name == "+odown" }, "the isolated sentinel did reach ODOWN")
        #expect(group.events[0].contains { $0.name == "+try-failover" }, "and tried")
        #expect(group.elections.isEmpty, "nobody was elected: \(group.elections)")
        #expect(group.replicaOfSent.isEmpty, "no node was reconfigured")
        #expect(group.nodes[primary]!.isPrimary && group.reportedPrimaries == [primary, primary, primary])
    }

    @Test("two sentinels of five are a minority: with the other three partitioned away, no failover happens")
    func twoOfFiveCannotFailOver() {
        var group = SimulatedGroup(sentinels: 5, quorum: 2, seed: 9)
        group.run(until: 3000)
        for i in 0..<2 {
            group.partition(sentinel: i, from: primary)
            for j in 2..<5 { group.partition(sentinel: i, from: group.addresses[j]) }
        }
        group.run(until: 40_000)
        #expect(group.events[0].contains { $0.name == "+odown" } || group.events[1].contains { $0.name == "+odown" })
        #expect(group.elections.isEmpty)
        #expect(group.replicaOfSent.isEmpty)
    }

    @Test("below quorum the primary is never objectively down, so no failover starts")
    func quorumNotReached() {
        var group = SimulatedGroup(sentinels: 3, quorum: 3, seed: 5)
        group.run(until: 3000)
        group.partition(sentinel: 0, from: primary)
        group.partition(sentinel: 1, from: primary)
        group.run(until: 20_000)
        #expect(group.events.allSatisfy { !$0.contains { $0.name == "+odown" } })
        #expect(group.replicaOfSent.isEmpty)
    }

    @Test("the old primary, back as a master, is made a replica of the new primary")
    func oldPrimaryRejoinsAsReplica() {
        var group = SimulatedGroup(sentinels: 3, quorum: 2, seed: 77, offsetA: 900, offsetB: 100)
        group.run(until: 3000)
        group.nodes[primary]!.alive = false
        group.run(until: 20_000)
        #expect(group.reportedPrimaries == [replicaA, replicaA, replicaA])
        group.nodes[primary]!.alive = true  // restarted: claims to be a master
        group.run(until: 30_000)
        #expect(!group.nodes[primary]!.isPrimary && group.nodes[primary]!.primary == replicaA)
        #expect(group.events.contains { $0.contains { $0.name == "+convert-to-slave" } })
        #expect(group.reportedPrimaries == [replicaA, replicaA, replicaA])
    }

    @Test("a sentinel cut off during the failover learns the new primary from a peer's hello")
    func configurationPropagates() {
        var group = SimulatedGroup(sentinels: 3, quorum: 2, seed: 3)
        group.run(until: 3000)
        // Sentinel 2 cannot see the nodes at all; it still talks to its peers.
        for n in [primary, replicaA, replicaB] { group.partition(sentinel: 2, from: n) }
        group.nodes[primary]!.alive = false
        group.run(until: 25_000)
        #expect(group.reportedPrimaries == [replicaA, replicaA, replicaA])
        #expect(group.events[2].contains { $0.name == "+config-update-from" })
    }

    @Test("replica choice: priority first (0 never), then the higher offset, then the smaller run ID")
    func replicaChoice() {
        var group = SimulatedGroup(sentinels: 1, quorum: 1, seed: 1, offsetA: 100, offsetB: 900)
        group.nodes[replicaB]!.priority = 0
        group.run(until: 3000)
        #expect(group.sentinels[0].selectableReplicas(now: group.now) == [replicaA], "priority 0 is never chosen")
        group.nodes[replicaB]!.priority = 10
        group.run(until: 14_000)
        #expect(group.sentinels[0].selectableReplicas(now: group.now) == [replicaB, replicaA])
        group.nodes[replicaB]!.priority = 100
        group.nodes[replicaA]!.priority = 50
        group.run(until: 25_000)
        #expect(group.sentinels[0].selectableReplicas(now: group.now) == [replicaA, replicaB], "lower priority beats a higher offset")
        group.nodes[replicaA]!.priority = 100
        group.nodes[replicaA]!.offset = 900
        group.nodes[replicaB]!.runID = "0000"
        group.run(until: 36_000)
        #expect(group.sentinels[0].selectableReplicas(now: group.now) == [replicaB, replicaA], "equal offsets: the smaller run ID")
    }

    @Test("SENTINEL FAILOVER promotes without agreement; a failover already running is refused")
    func forcedFailover() {
        var group = SimulatedGroup(sentinels: 3, quorum: 2, seed: 11, offsetA: 10, offsetB: 20)
        group.run(until: 3000)
        let reply = group.sentinels[0].execute(["SENTINEL", "FAILOVER", "mymaster"], now: group.now, serverPort: 1)
        #expect(reply == .simpleString("OK"))
        let again = group.sentinels[0].execute(["SENTINEL", "failover", "mymaster"], now: group.now, serverPort: 1)
        #expect(again == .error("INPROG Failover already in progress"))
        group.run(until: 12_000)
        #expect(group.nodes[replicaB]!.isPrimary)
        #expect(group.reportedPrimaries == [replicaB, replicaB, replicaB])
    }
}
