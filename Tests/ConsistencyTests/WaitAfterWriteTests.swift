// The consistency workloads' WAIT-after-write step: WAIT follows every successful write, and a write is ok only when enough replicas confirm.

import Foundation
import History
import KVClient
import KVLabTestSupport
import Linearizability
import RESP
import Synchronization
import Testing
@testable import Consistency

@Suite("Consistency workloads with WAIT after each write", .serialized)
struct WaitAfterWriteTests {
    /// A scripted register/set server whose WAIT answers 0 replicas every third time, 2 otherwise.
    final class WaitingStore: @unchecked Sendable {
        let store = ScriptedStore(fault: .none)
        let waits = Atomic<Int>(0)
        let shortWaits = Atomic<Int>(0)
        /// Per connection: whether its last command was a write that took effect (SET, or EVAL answering 1).
        let lastWasWrite = Mutex<[Int: Bool]>([:])
        /// WAITs that did not follow a successful write on their connection.
        let misplacedWaits = Atomic<Int>(0)

        func handle(_ connection: Int, _ command: [String]) -> ScriptedAction {
            guard command.first?.uppercased() == "WAIT" else {
                let action = store.handle(command)
                var wrote = false
                if case .reply(let reply) = action {
                    wrote = command.first == "SET" || command.first == "SADD" || (command.first == "EVAL" && reply == .integer(1))
                }
                lastWasWrite.withLock { $0[connection] = wrote }
                return action
            }
            if !lastWasWrite.withLock({ $0.removeValue(forKey: connection) ?? false }) { misplacedWaits.add(1, ordering: .relaxed) }
            let n = waits.add(1, ordering: .relaxed).newValue
            if n % 3 == 0 {
                shortWaits.add(1, ordering: .relaxed)
                return .reply(.integer(0))
            }
            return .reply(.integer(2))
        }
    }

    @Test("every successful write is followed by WAIT n timeout; it is ok when n replicas confirm and info when fewer do")
    func waitDecidesTheOutcome() throws {
        let waiting = WaitingStore()
        let server = try ScriptedRESPServer { connection, command in waiting.handle(connection, command) }
        defer { server.stop() }
        let endpoint = server.endpoint
        var c = shortConfiguration(.register, seed: testSeed())
        c.casMethod = .eval
        c.waitAfterWrite = .init(replicas: 2, timeoutMilliseconds: 150)
        let history = try runConsistencyWorkload(c, resolve: { endpoint })

        let commands = server.commands
        let waits = commands.filter { $0.first == "WAIT" }
        #expect(!waits.isEmpty && waits.allSatisfy { $0 == ["WAIT", "2", "150"] })
        // On its connection, WAIT comes right after a SET or an EVAL that swapped, never after a read or a failed cas.
        #expect(waiting.misplacedWaits.load(ordering: .relaxed) == 0)
        let writeCompletions = history.events.filter { $0.kind != .invoke && ($0.function == "write" || $0.function == "cas") }
        let okWrites = writeCompletions.filter { $0.kind == .ok }.count
        let infoWrites = writeCompletions.filter { $0.kind == .info }.count
        #expect(okWrites + infoWrites == waits.count)
        #expect(infoWrites == waiting.shortWaits.load(ordering: .relaxed) && infoWrites > 0)
        // An unconfirmed write is still applied on the primary: the history stays linearizable.
        let result = try casRegisterVerdict(history)
        #expect(result.verdict == .linearizable, "\(result.textReport())")
    }

    @Test("without a WAIT step no WAIT is sent")
    func noWaitByDefault() throws {
        let waiting = WaitingStore()
        let server = try ScriptedRESPServer { connection, command in waiting.handle(connection, command) }
        defer { server.stop() }
        let endpoint = server.endpoint
        let history = try runConsistencyWorkload(shortConfiguration(.set, seed: testSeed()), resolve: { endpoint })
        #expect(!server.commands.contains { $0.first == "WAIT" })
        #expect(history.events.filter { $0.function == "add" && $0.kind == .ok }.count > 10)
    }

    @Test("against kvlab serve without replicas, WAIT 1 confirms nothing: every add is info, and the final reads find them")
    func unconfirmedAddsOnKVLabServe() throws {
        let server = try startKVLabServer()
        defer { try? server.shutdown() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        var c = shortConfiguration(.set, seed: testSeed())
        c.operationsPerSecond = 100
        c.waitAfterWrite = .init(replicas: 1, timeoutMilliseconds: 10)
        let history = try runConsistencyWorkload(c, resolve: { endpoint })
        let adds = history.events.filter { $0.function == "add" && $0.kind != .invoke }
        #expect(adds.count > 10 && adds.allSatisfy { $0.kind == .info })
        let result = try SetChecker.check(history)
        #expect(result.acknowledged.isEmpty && result.lost.isEmpty)
        #expect(result.recovered.count == adds.count, "every unconfirmed add is still on the primary")
    }

    @Test("a WAIT step for no replica, or with a negative timeout, is refused naming the field")
    func invalidWaitStep() {
        var c = ConsistencyWorkloadConfiguration(kind: .set)
        c.waitAfterWrite = .init(replicas: 0, timeoutMilliseconds: 100)
        #expect(throws: ConsistencyError.invalidConfiguration(field: "waitAfterWrite.replicas", value: "0", expected: "1 to 1024 replicas")) {
            try c.validate()
        }
        c.waitAfterWrite = .init(replicas: 1, timeoutMilliseconds: -1)
        #expect(throws: ConsistencyError.self) { try c.validate() }
    }
}

@Suite("Consistency workloads after a demotion", .serialized)
struct ReadOnlyReresolveTests {
    @Test("a READONLY reply makes the client look the primary up again, without waiting for a connection error")
    func readOnlyFollowsTheNewPrimary() throws {
        // a is a demoted primary: it answers every write READONLY and keeps the connection open.
        let a = try ScriptedRESPServer { _, command in
            switch command.first?.uppercased() {
            case "SADD", "SET": .reply(.error("READONLY You can't write against a read only replica."))
            case "DEL": .reply(.integer(0))
            default: .reply(.array([]))
            }
        }
        let store = ScriptedStore(fault: .none)
        let b = try ScriptedRESPServer { _, command in store.handle(command) }
        defer { a.stop(); b.stop() }
        // The resolver names a at first (setup and the first connections), then b.
        let calls = Atomic<Int>(0)
        let (first, second) = (a.endpoint, b.endpoint)
        var c = shortConfiguration(.set, seed: testSeed())
        c.performsFinalReads = false
        let clients = c.clients
        let resolve: @Sendable () throws -> RedisEndpoint = {
            calls.add(1, ordering: .relaxed).newValue <= 1 + clients ? first : second
        }
        let history = try runConsistencyWorkload(c, resolve: resolve)
        let adds = history.events.filter { $0.function == "add" && $0.kind != .invoke }
        // Each client gets one READONLY (fail: refused before apply) from a, then writes to b.
        #expect(adds.filter { $0.kind == .fail }.count == c.clients)
        #expect(adds.filter { $0.kind == .ok }.count > 10)
        #expect(a.commands.filter { $0.first == "SADD" }.count == c.clients)
        #expect(b.commands.contains { $0.first == "SADD" })
    }
}
