// The consistency workloads against kvlab serve, a real redis-server and scripted faulty servers, checked by the checkers.

import Foundation
import History
import KVClient
import KVCore
import KVEngines
import KVLabTestSupport
import KVServer
import Linearizability
import Logging
import RESP
import Synchronization
import Testing
@testable import Consistency

let quietLogger = Logger(label: "kvlab.consistency.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// kvlab serve in this process (skiplist engine, so the scan index works), on a free loopback port.
func startKVLabServer() throws -> RESPServer {
    let keyspace = try Keyspace(factory: { () throws(EngineError) in try StandardEngines.registry.open("skiplist") })
    let server = RESPServer(executor: CommandExecutor(keyspace: keyspace, configuration: ServerConfiguration(port: 0, threads: 2),
                                                      logger: quietLogger), logger: quietLogger)
    try server.start()
    return server
}

/// The seed of randomized tests: KVLAB_SEED if set, else a fresh one (printed, to replay).
func testSeed() -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
    print("consistency test seed: \(seed) (replay with KVLAB_SEED=\(seed))")
    return seed
}

/// A short, paced workload: small histories the checker handles in well under a second.
func shortConfiguration(_ kind: ConsistencyWorkloadConfiguration.Kind, seed: UInt64) -> ConsistencyWorkloadConfiguration {
    var c = ConsistencyWorkloadConfiguration(kind: kind)
    c.clients = 4
    c.keys = 2
    c.durationSeconds = 0.8
    c.operationsPerSecond = 400
    c.requestTimeoutSeconds = 2
    c.seed = seed
    return c
}

func outcomes(_ history: History) -> [Event.Kind: Int] {
    var counts: [Event.Kind: Int] = [:]
    for e in history.events where e.kind != .invoke { counts[e.kind, default: 0] += 1 }
    return counts
}

func casRegisterVerdict(_ history: History) throws -> CheckResult {
    try check(history, model: CASRegisterModel())
}

@Suite("Consistency workloads", .serialized)
struct ConsistencyWorkloadTests {
    @Test("the register workload against kvlab serve (cas by WATCH/MULTI) checks linearizable per key")
    func registerOnKVLabServe() throws {
        let server = try startKVLabServer()
        defer { try? server.shutdown() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        let probe = try RESPConnection(endpoint: endpoint)
        #expect(try detectCASMethod(probe) == .watchMulti)
        probe.close()
        let history = try runConsistencyWorkload(shortConfiguration(.register, seed: testSeed()), resolve: { endpoint })
        let counts = outcomes(history)
        #expect((counts[.ok] ?? 0) > 50)
        #expect(history.events.allSatisfy { $0.time != nil && $0.key != nil })
        let operations = try history.operations()
        #expect(operations.contains { $0.function == "cas" && $0.outcome == .ok })
        #expect(Set(operations.compactMap(\.key)).count == 2)
        let result = try casRegisterVerdict(history)
        #expect(result.verdict == .linearizable, "\(result.textReport())")
    }

    @Test("the register workload against a real redis-server (cas by EVAL) checks linearizable per key")
    func registerOnRedis() throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let endpoint = redis.endpoint
        let probe = try RESPConnection(endpoint: endpoint)
        #expect(try detectCASMethod(probe) == .eval)
        probe.close()
        let history = try runConsistencyWorkload(shortConfiguration(.register, seed: testSeed()), resolve: { endpoint })
        #expect((outcomes(history)[.ok] ?? 0) > 50)
        #expect(try history.operations().contains { $0.function == "cas" && $0.outcome == .ok })
        let result = try casRegisterVerdict(history)
        #expect(result.verdict == .linearizable, "\(result.textReport())")
    }

    @Test("the set workload against kvlab serve and redis-server reads back every acknowledged add, per key")
    func setOnBothServers() throws {
        let server = try startKVLabServer()
        defer { try? server.shutdown() }
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        for endpoint in [RedisEndpoint(host: "127.0.0.1", port: server.port), redis.endpoint] {
            let history = try runConsistencyWorkload(shortConfiguration(.set, seed: testSeed()), resolve: { endpoint })
            let finals = history.events.filter { $0.function == "read" && $0.kind == .ok }
            #expect(finals.count == 2, "one final read per key on \(endpoint)")
            let result = try SetChecker.check(history)
            #expect(result.validity == .valid, "\(endpoint): \(result.textReport())")
            #expect(result.acknowledged.count > 50 && result.lost.isEmpty && result.unexpected.isEmpty)
            #expect(try SetChecker.checkPerKey(history).count == 2)
        }
    }

    @Test("a planted lost write and a planted stale read are found by the checkers")
    func plantedAnomalies() throws {
        let server = try startKVLabServer()
        defer { try? server.shutdown() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        let seed = testSeed()
        // Lost write: drop one acknowledged element from its key's final read.
        var setHistory = try runConsistencyWorkload(shortConfiguration(.set, seed: seed), resolve: { endpoint })
        let finalIndex = try #require(setHistory.events.lastIndex { $0.function == "read" && $0.kind == .ok })
        let elements = try #require(setHistory.events[finalIndex].value.elements)
        let victim = try #require(elements.first)
        setHistory.events[finalIndex].value = .set(Array(elements.dropFirst()))
        let lost = try SetChecker.check(setHistory)
        #expect(lost.validity == .invalid && lost.lost == [victim])

        // Stale read: an ok read after a completed write of another value returns the older one.
        var c = shortConfiguration(.register, seed: seed)
        c.clients = 1
        var registerHistory = try runConsistencyWorkload(c, resolve: { endpoint })
        #expect(try casRegisterVerdict(registerHistory).verdict == .linearizable)
        // Find an ok write followed (same key) by an ok read, and make that read see a value never written there since.
        let events = registerHistory.events
        var planted = false
        for (i, e) in events.enumerated() where e.function == "write" && e.kind == .ok {
            // With one client the next ok operation on that key must see the written value.
            if let j = events[(i + 1)...].firstIndex(where: { $0.key == e.key && $0.kind == .ok }),
               events[j].function == "read", let written = e.value.integer {
                registerHistory.events[j].value = .integer((written + 1) % Int64(c.values))
                planted = true
                break
            }
        }
        #expect(planted)
        #expect(try casRegisterVerdict(registerHistory).verdict == .violation)
    }
}

/// A register and set server scripted in the test: it can lose adds, or drop connections
/// before or after applying a write.
final class ScriptedStore: @unchecked Sendable {
    enum Fault { case none, loseEveryFifthAdd, dropSomeWritesBeforeApply, dropSomeWritesAfterApply }
    let fault: Fault
    private let state = Mutex<(strings: [String: String], sets: [String: Set<String>], writes: Int)>(([:], [:], 0))
    private let hashes = Mutex<[String: [(String, String)]]>([:])

    init(fault: Fault) { self.fault = fault }

    func handle(_ command: [String]) -> ScriptedAction {
        guard let name = command.first?.uppercased() else { return .reply(.error("ERR empty command")) }
        return state.withLock { s -> ScriptedAction in
            switch name {
            case "DEL":
                for k in command.dropFirst() { s.strings[k] = nil; s.sets[k] = nil }
                return .reply(.integer(0))
            case "GET":
                return .reply(s.strings[command[1]].map { .bulk($0) } ?? .null)
            case "SET", "EVAL", "SADD":
                s.writes += 1
                let third = s.writes % 8 == 0
                if fault == .dropSomeWritesBeforeApply && third { return .close }
                var reply: RESPValue
                switch name {
                case "SET":
                    s.strings[command[1]] = command[2]
                    reply = .simpleString("OK")
                case "EVAL":
                    let key = command[3]
                    if s.strings[key] == command[4] { s.strings[key] = command[5]; reply = .integer(1) } else { reply = .integer(0) }
                default:
                    if fault == .loseEveryFifthAdd && s.writes % 5 == 0 { return .reply(.integer(1)) }
                    reply = .integer(s.sets[command[1], default: []].insert(command[2]).inserted ? 1 : 0)
                }
                if fault == .dropSomeWritesAfterApply && third { return .close }
                return .reply(reply)
            case "SMEMBERS":
                return .reply(.array((s.sets[command[1]] ?? []).sorted().map { .bulk($0) }))
            default:
                return .reply(.error("ERR unknown command '\(name)'"))
            }
        }
    }
}

extension ScriptedStore {
    /// The hash commands of YCSB's Redis mapping: HMSET, HGETALL, DEL, ZADD, ZREM.
    func handleHash(_ command: [String]) -> ScriptedAction {
        hashes.withLock { h -> ScriptedAction in
            switch command.first?.uppercased() ?? "" {
            case "HMSET":
                var fields = h[command[1]] ?? []
                for i in stride(from: 2, to: command.count - 1, by: 2) {
                    if let j = fields.firstIndex(where: { $0.0 == command[i] }) { fields[j].1 = command[i + 1] } else { fields.append((command[i], command[i + 1])) }
                }
                h[command[1]] = fields
                return .reply(.simpleString("OK"))
            case "HGETALL":
                return .reply(.array((h[command[1]] ?? []).flatMap { [RESPValue.bulk($0.0), .bulk($0.1)] }))
            case "DEL":
                return .reply(.integer(h.removeValue(forKey: command[1]) == nil ? 0 : 1))
            case "ZADD", "ZREM":
                return .reply(.integer(1))
            default:
                return .reply(.error("ERR unknown command '\(command.first ?? "")'"))
            }
        }
    }
}

/// A shared counter for scripted servers' handlers.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func next() -> Int { value.wrappingAdd(1, ordering: .relaxed).newValue }
}

@Suite("Consistency workloads against faulty scripted servers", .serialized)
struct ConsistencyFaultTests {
    @Test("a server that acknowledges adds and loses them shows lost elements in the set check")
    func lostAdds() throws {
        let store = ScriptedStore(fault: .loseEveryFifthAdd)
        let server = try ScriptedRESPServer { _, command in store.handle(command) }
        defer { server.stop() }
        let endpoint = server.endpoint
        let history = try runConsistencyWorkload(shortConfiguration(.set, seed: testSeed()), resolve: { endpoint })
        let result = try SetChecker.check(history)
        #expect(result.validity == .invalid)
        #expect(!result.lost.isEmpty)
        #expect(result.lost.count * 3 < result.acknowledged.count)
    }

    @Test("dropped connections are info, the process is retired as old + clients, and the history still checks")
    func droppedConnectionsRetireProcesses() throws {
        for fault in [ScriptedStore.Fault.dropSomeWritesBeforeApply, .dropSomeWritesAfterApply] {
            let store = ScriptedStore(fault: fault)
            let server = try ScriptedRESPServer { _, command in store.handle(command) }
            defer { server.stop() }
            let endpoint = server.endpoint
            var c = shortConfiguration(.register, seed: testSeed())
            c.casMethod = .eval
            c.operationsPerSecond = 200
            let history = try runConsistencyWorkload(c, resolve: { endpoint })
            let infos = history.events.filter { $0.kind == .info }
            #expect(infos.count >= 3)
            #expect(infos.allSatisfy { $0.function == "write" || $0.function == "cas" })
            // After its info, the process never appears again; its thread continues as process + clients.
            for info in infos {
                let position = try #require(history.events.firstIndex(of: info))
                #expect(!history.events[(position + 1)...].contains { $0.process == info.process })
            }
            let processes = Set(history.events.map(\.process))
            #expect(processes.contains { $0 >= c.clients })
            #expect(processes.allSatisfy { $0 % c.clients < c.clients })
            let result = try casRegisterVerdict(history)
            #expect(result.verdict == .linearizable, "\(fault): \(result.textReport())")
        }
    }

    @Test("the resolver is asked again after a connection error, so clients follow a moved primary")
    func resolverFollowsFailover() throws {
        let first = ScriptedStore(fault: .none)
        let a = try ScriptedRESPServer { _, command in first.handle(command) }
        let second = ScriptedStore(fault: .none)
        let b = try ScriptedRESPServer { _, command in second.handle(command) }
        defer { a.stop(); b.stop() }
        let current = Mutex(a.endpoint)
        let calls = Atomic<Int>(0)
        let resolve: @Sendable () throws -> RedisEndpoint = {
            calls.add(1, ordering: .relaxed)
            return current.withLock { $0 }
        }
        var c = shortConfiguration(.set, seed: testSeed())
        c.durationSeconds = 1.5
        c.performsFinalReads = false
        let moved = Atomic<Bool>(false)
        let started = ContinuousClock.now
        let history = try runConsistencyWorkload(c, resolve: resolve, stop: {
            // Half way through: "fail over" to b and cut a's connections.
            if !moved.load(ordering: .relaxed) && ContinuousClock.now - started > .milliseconds(600) {
                moved.store(true, ordering: .relaxed)
                current.withLock { $0 = b.endpoint }
                a.stop()
            }
            return false
        })
        let wasMoved = moved.load(ordering: .relaxed)
        let resolutions = calls.load(ordering: .relaxed)
        #expect(wasMoved)
        #expect(resolutions > c.clients + 1)
        #expect(b.connectionsAccepted >= c.clients)
        let adds = history.events.filter { $0.function == "add" && $0.kind == .ok }.count
        #expect(adds > 50)
        #expect(b.commands.contains { $0.first == "SADD" })
    }

    @Test("error replies map to fail when surely not applied and to info otherwise")
    func replyClassification() {
        let fail: [String] = ["READONLY You can't write against a read only replica.", "NOREPLICAS Not enough good replicas to write.",
                              "MOVED 3999 127.0.0.1:6381", "LOADING Redis is loading", "ERR unknown command 'EVAL'", "OOM command not allowed",
                              "EXECABORT Transaction discarded", "CLUSTERDOWN The cluster is down"]
        for message in fail { #expect(ReplyClassification.outcome(ofError: message, writes: true) == .fail, "\(message)") }
        let info: [String] = ["NOREPLICAS sync replication timed out: 0 of 1 replicas acknowledged", "ERR Error running script",
                              "SOMETHING new"]
        for message in info { #expect(ReplyClassification.outcome(ofError: message, writes: true) == .info, "\(message)") }
        #expect(ReplyClassification.outcome(ofError: "ERR Error running script", writes: false) == .fail)
    }

    @Test("a connection bound to a source address reaches the server from that address; a foreign one is refused")
    func sourceAddress() throws {
        let redis = try RedisServerProcess(extraArguments: ["--protected-mode", "no"])
        defer { redis.stop() }
        let c = try RESPConnection(endpoint: redis.endpoint, sourceHost: "127.0.0.7")
        let list = try #require(c.call(["CLIENT", "LIST"]).text)
        #expect(list.contains("addr=127.0.0.7:"))
        #expect(throws: RESPClientError.self) { try RESPConnection(endpoint: redis.endpoint, sourceHost: "192.0.2.1") }
        #expect(throws: RESPClientError.self) { try RESPConnection(endpoint: redis.endpoint, sourceHost: "not-an-ip") }
    }

    @Test("a bad configuration is refused naming the field")
    func invalidConfiguration() {
        var c = ConsistencyWorkloadConfiguration(kind: .register)
        c.clients = 0
        #expect(throws: ConsistencyError.invalidConfiguration(field: "clients", value: "0", expected: "1 to 1024 client threads")) {
            try runConsistencyWorkload(c, resolve: { RedisEndpoint(host: "127.0.0.1", port: 1) })
        }
        var d = ConsistencyWorkloadConfiguration(kind: .set)
        d.durationSeconds = .infinity
        #expect(throws: ConsistencyError.self) { try d.validate() }
    }
}
