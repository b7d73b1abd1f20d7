// The executor harness as seeded tests: random commands with a watchdog and a reference model.

import Foundation
import KVCore
@testable import KVServer
import RESP
import Testing

/// `KVLAB_SEED` if set, else a fresh seed; printed so a failure replays.
func harnessSeed(_ test: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    print("\(test): seed \(seed) (replay with KVLAB_SEED=\(seed))")
    return seed
}

/// `KVLAB_HARNESS_COMMANDS` if set (a 1M run), else `fallback` (kept short for debug builds).
func harnessCommandCount(_ fallback: Int) -> Int {
    ProcessInfo.processInfo.environment["KVLAB_HARNESS_COMMANDS"].flatMap(Int.init) ?? fallback
}

@Suite("Executor harness: random commands under a watchdog")
struct ExecutorHarnessTests {
    @Test("random command sequences on one connection: no hang, no malformed reply, replies agree with the model",
          arguments: ["skiplist", "hash"])
    func singleConnection(engine: String) throws {
        let seed = harnessSeed("harness \(engine)")
        let count = harnessCommandCount(20_000)
        let clock = ManualWallClock()
        let harness = ExecutorHarness(executor: try makeExecutor(engine: engine, clock: clock), clock: clock)
        var random = SeededRandom(seed: seed)
        let start = Date()
        let failure = harness.run(count: count, random: &random)
        print("harness \(engine): \(count) commands in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, \(harness.checkedReplies) replies checked against the model")
        #expect(harness.checkedReplies > count / 20, "the model predicted too few replies to mean anything")
        #expect(failure == nil, "seed \(seed) (replay with KVLAB_SEED=\(seed)): \(failure.map(String.init(describing:)) ?? "")")
    }

    @Test("three connections at once over the same keys: no deadlock between locking orders")
    func concurrentConnections() throws {
        let seed = harnessSeed("harness concurrent")
        let count = harnessCommandCount(20_000) / 4
        let clock = ManualWallClock()
        let harness = ExecutorHarness(executor: try makeExecutor(engine: "skiplist", clock: clock), clock: clock)
        var random = SeededRandom(seed: seed)
        let failure = harness.run(count: count, connections: 3, random: &random)
        #expect(failure == nil, "seed \(seed) (replay with KVLAB_SEED=\(seed)): \(failure.map(String.init(describing:)) ?? "")")
    }

    @Test("the watchdog reports a command that blocks, with the command")
    func watchdogCatchesAHang() throws {
        let clock = ManualWallClock()
        let executor = try makeExecutor(engine: "skiplist", clock: clock)
        var harness = ExecutorHarness(executor: executor, clock: clock)
        harness.watchdogSeconds = 0.3
        // Hold k0's stripe, as a deadlocked command would: the first write of k0 must block.
        let k0 = Array("k0".utf8)
        let stripe = k0.withUnsafeBytes { Keyspace.stripe(of: $0) }
        executor.keyspace.lockStripe(stripe)
        let failure = harness.runStreams([[.command(["SET", "k1", "x"]), .command(["INCR", "k0"])]], checkModel: true)
        executor.keyspace.unlockStripe(stripe)
        #expect(failure?.step == 1)
        #expect(failure?.command == ["INCR", "k0"])
        #expect(failure?.message.contains("no reply after") == true)
    }

    @Test("the model catches a wrong reply")
    func modelCatchesAWrongReply() throws {
        var model = ExecutorHarness.Model()
        #expect(ExecutorHarness.check(["SET", "k0", "v"], .simpleString("OK"), &model, inTransaction: false, now: 0) == nil)
        #expect(ExecutorHarness.check(["GET", "k0"], .null, &model, inTransaction: false, now: 0) != nil)
        #expect(ExecutorHarness.check(["GET", "k0"], .bulk("v"), &model, inTransaction: false, now: 0) == nil)
    }
}
