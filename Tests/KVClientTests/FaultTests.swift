// The client under faults: connect timeouts, reconnection backoff, cluster map reloads and retries.

import Foundation
import KVLabTestSupport
@testable import KVClient
import RESP
import Synchronization
import Testing

/// A clock that only moves when told to or when slept on; it records every wait.
final class ManualClientClock: ClientClock, @unchecked Sendable {
    private let state = Mutex<(now: UInt64, waits: [UInt64])>((1_000_000_000, []))
    func nanoseconds() -> UInt64 { state.withLock { $0.now } }
    func sleep(until deadline: UInt64) {
        state.withLock { s in
            guard deadline > s.now else { return }
            s.waits.append(deadline - s.now)
            s.now = deadline
        }
    }
    func advance(seconds: Double) { state.withLock { $0.now += UInt64(seconds * 1e9) } }
    /// Waits so far, in milliseconds, and forgets them.
    func takeWaits() -> [UInt64] { state.withLock { s in let w = s.waits.map { $0 / 1_000_000 }; s.waits = []; return w } }
}

/// CLUSTER SLOTS for `ranges` of (first slot, last slot, port) on 127.0.0.1.
func clusterSlots(_ ranges: [(Int, Int, Int)]) -> RESPValue {
    .array(ranges.map { .array([.integer(Int64($0.0)), .integer(Int64($0.1)), .array([.bulk("127.0.0.1"), .integer(Int64($0.2)), .bulk("id\($0.2)")])]) })
}

/// A key whose slot is in `range`.
func key(inSlots range: ClosedRange<Int>) -> String {
    var i = 0
    while !range.contains(ClusterSlot.slot(of: "key\(i)")) { i += 1 }
    return "key\(i)"
}

@Suite("Client under faults", .serialized)
struct ClientFaultTests {
    @Test("a connect nobody answers fails after the connect timeout, not the kernel's two minutes")
    func connectTimeout() throws {
        // A listener with a backlog of 0 that never accepts: once its queue holds one
        // connection, the kernel drops further SYNs and a connect hangs.
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(listen(s, 0) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) } }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)))
        var held: [RESPConnection] = []
        var failure: RESPClientError?
        for _ in 0..<8 where failure == nil {
            do { held.append(try RESPConnection(endpoint: endpoint, connectTimeoutSeconds: 0.2)) } catch { failure = error }
        }
        let error = try #require(failure, "every connect to a full backlog succeeded")
        guard case .connect(let place, let message) = error else { Issue.record("expected a connect error, got \(error)"); return }
        #expect(place == endpoint.description)
        #expect(message == "timed out after 0.2 s")
        for c in held { c.close() }
    }

    @Test("reconnection waits out a backoff that doubles to its cap, and an answered reply resets it")
    func backoffSchedule() throws {
        let port = freePort()
        let clock = ManualClientClock()
        let settings = ConnectionSettings(ioTimeoutSeconds: 5, connectTimeoutSeconds: 2,
                                          backoff: Backoff(initialSeconds: 0.01, maximumSeconds: 0.08))
        let link = ReconnectingConnection(unconnected: RedisEndpoint(host: "127.0.0.1", port: port), settings: settings, clock: clock)
        for _ in 0..<6 {
            #expect(throws: RESPClientError.self) { _ = try link.connection() }
        }
        // The first attempt is immediate; each refused one doubles the next wait, up to 80 ms.
        #expect(clock.takeWaits() == [10, 20, 40, 80, 80])
        #expect(link.consecutiveFailures == 6)

        let server = try ScriptedRESPServer(port: port) { _, _ in .reply(.simpleString("PONG")) }
        defer { server.stop() }
        let c = try link.connection()
        #expect(clock.takeWaits() == [80])
        #expect(try c.call(["PING"]) == .simpleString("PONG"))
        link.succeeded()
        link.failed()
        _ = try link.connection()
        #expect(clock.takeWaits() == [10], "after a reply the schedule starts over")
        #expect(link.reconnections == 1)
    }

    @Test("a dropped connection fails the command in flight; the next command reconnects and succeeds")
    func dropAndReconnect() throws {
        // The first connection is closed on its third command.
        let server = try ScriptedRESPServer { connection, command in
            if connection == 0 && command == ["GET", "c"] { return .close }
            return .reply(.bulk("ok"))
        }
        defer { server.stop() }
        let link = try ReconnectingConnection(endpoint: server.endpoint, settings: ConnectionSettings(ioTimeoutSeconds: 5))
        #expect(try link.connection().call(["GET", "a"]) == .bulk("ok"))
        #expect(try link.connection().call(["GET", "b"]) == .bulk("ok"))
        #expect(throws: RESPClientError.closed(endpoint: server.endpoint.description)) { try link.connection().call(["GET", "c"]) }
        link.failed()
        #expect(try link.connection().call(["GET", "d"]) == .bulk("ok"))
        #expect(link.reconnections == 1 && server.connectionsAccepted == 2)
    }

    @Test("LOADING, TRYAGAIN and CLUSTERDOWN are retried after growing waits; past the limit the error is returned")
    func clusterRetries() throws {
        let answers = Mutex(0)
        let ownPort = Atomic<Int>(0)
        let server = try ScriptedRESPServer { _, command in
            if command.first == "CLUSTER" { return .reply(clusterSlots([(0, 16383, ownPort.load(ordering: .relaxed))])) }
            if command == ["GET", "always-down"] { return .reply(.error("CLUSTERDOWN The cluster is down")) }
            let n = answers.withLock { n in n += 1; return n }
            switch n {
            case 1: return .reply(.error("LOADING Redis is loading the dataset in memory"))
            case 2: return .reply(.error("TRYAGAIN Multiple keys request during rehashing of slot"))
            case 3: return .reply(.error("CLUSTERDOWN Hash slot not served"))
            default: return .reply(.bulk("v"))
            }
        }
        defer { server.stop() }
        ownPort.store(server.port, ordering: .relaxed)
        let clock = ManualClientClock()
        let client = try RedisClusterClient(seeds: [server.endpoint], settings: ConnectionSettings(ioTimeoutSeconds: 5),
                                            retryLimit: 4, clock: clock)
        #expect(client.knownNodes == [server.endpoint])
        #expect(try client.call(["GET", "k"]) == .bulk("v"))
        #expect(client.retryCount == 3)
        #expect(clock.takeWaits() == [10, 20, 40])
        #expect(try client.call(["GET", "always-down"]) == .error("CLUSTERDOWN The cluster is down"))
        #expect(clock.takeWaits() == [10, 20, 40, 80])
        #expect(client.retryCount == 7)
    }

    @Test("a node that drops connections makes the client reload the slot map, at most once per interval")
    func refreshOnConnectionErrors() throws {
        let portA = freePort(), portB = freePort()
        // Both nodes say: slots 0-8191 on A, the rest on B, until A fails; then B owns all.
        let failedOver = Atomic<Bool>(false)
        let mapQueries = Atomic<Int>(0)
        let slotsReply: @Sendable () -> RESPValue = {
            mapQueries.add(1, ordering: .relaxed)
            return failedOver.load(ordering: .relaxed) ? clusterSlots([(0, 16383, portB)]) : clusterSlots([(0, 8191, portA), (8192, 16383, portB)])
        }
        let a = try ScriptedRESPServer(port: portA) { _, command in
            command.first == "CLUSTER" ? .reply(slotsReply()) : .close
        }
        defer { a.stop() }
        let b = try ScriptedRESPServer(port: portB) { _, command in
            command.first == "CLUSTER" ? .reply(slotsReply()) : .reply(.bulk("from B"))
        }
        defer { b.stop() }
        let clock = ManualClientClock()
        let client = try RedisClusterClient(seeds: [a.endpoint], settings: ConnectionSettings(ioTimeoutSeconds: 5),
                                            minimumRefreshSeconds: 0.5, clock: clock)
        #expect(client.refreshCount == 1)
        let onA = key(inSlots: 0...8191)
        failedOver.store(true, ordering: .relaxed)
        // A drops the command: it may have run, so it is not re-sent; the map was loaded too
        // recently to be loaded again.
        #expect(throws: RESPClientError.self) { try client.call(["GET", onA]) }
        #expect(client.refreshCount == 1)
        #expect(throws: RESPClientError.self) { try client.call(["GET", onA]) }
        #expect(client.refreshCount == 1)
        // Half a second later a failure reloads the map (from B: A is backing off)...
        clock.advance(seconds: 0.5)
        #expect(throws: RESPClientError.self) { try client.call(["GET", onA]) }
        #expect(client.refreshCount == 2)
        // ...and the slot's commands go to B.
        #expect(try client.call(["GET", onA]) == .bulk("from B"))
        #expect(client.owner(ofSlot: ClusterSlot.slot(of: onA)) == b.endpoint)
        #expect(mapQueries.load(ordering: .relaxed) == 2)
    }

    @Test("a command that cannot reach its node goes to the slot's new owner after the map reload")
    func unsentCommandFollowsNewOwner() throws {
        let portA = freePort()
        let failedOver = Atomic<Bool>(false)
        let b = try ScriptedRESPServer { _, command in .reply(.bulk(command.first == "CLUSTER" ? "" : "from B")) }
        defer { b.stop() }
        let portB = b.port
        let slots: @Sendable () -> RESPValue = {
            failedOver.load(ordering: .relaxed) ? clusterSlots([(0, 16383, portB)]) : clusterSlots([(0, 8191, portA), (8192, 16383, portB)])
        }
        let mapServer = try ScriptedRESPServer { _, _ in .reply(slots()) }
        defer { mapServer.stop() }
        let a = try ScriptedRESPServer(port: portA) { _, _ in .reply(.bulk("from A")) }
        let client = try RedisClusterClient(seeds: [mapServer.endpoint], settings: ConnectionSettings(ioTimeoutSeconds: 5, connectTimeoutSeconds: 2),
                                            minimumRefreshSeconds: 0, clock: ManualClientClock())
        let onA = key(inSlots: 0...8191)
        #expect(try client.call(["GET", onA]) == .bulk("from A"))
        a.stop()   // A is gone: connections to it are refused
        client.close()
        failedOver.store(true, ordering: .relaxed)
        #expect(try client.call(["GET", onA]) == .bulk("from B"))
        let results = client.pipelineResults([[Array("GET".utf8), Array(onA.utf8)]])
        #expect(try results[0].get() == .bulk("from B"))
    }
}
