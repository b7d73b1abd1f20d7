// The fault proxy with real sockets: pass-through, drop, blackhole, delay, and partitions.

import Foundation
import KVCore
import Testing
@testable import FaultInjection

@Suite("FaultProxy")
struct FaultProxyTests {
    /// A proxy with one echo node "n1" on 127.0.0.2 behind it.
    private func setUp() throws -> (FaultProxy, EchoServer, ProxyRoute) {
        let echo = try EchoServer(host: "127.0.0.2")
        let proxy = try FaultProxy()
        let route = try proxy.addRoute(node: "n1", targetHost: "127.0.0.2", targetPort: echo.port)
        return (proxy, echo, route)
    }

    @Test("bytes pass through unchanged both ways, and a half-close is passed on after the data")
    func passThrough() throws {
        let (proxy, echo, route) = try setUp()
        defer { proxy.stop(); echo.stop() }
        let client = try TestClient(from: "127.0.0.3", to: route.publicPort)
        let large = String(repeating: "abcdefghij", count: 50_000)   // 500 KB: many chunks, flow control
        try client.send("hello")
        #expect(client.read(count: 5) == .data("hello"))
        try client.send(large)
        #expect(client.read(count: large.utf8.count) == .data(large))
        try client.send("bye")
        client.shutdownWrite()
        #expect(client.read(count: 3) == .data("bye"))
        #expect(client.read(count: 1) == .endOfFile)
    }

    @Test("the proxy identifies the source party by the connection's source address")
    func linkIdentity() throws {
        let (proxy, echo, route) = try setUp()
        defer { proxy.stop(); echo.stop() }
        let client = try TestClient(from: "127.0.0.7", to: route.publicPort)
        try client.send("x")
        #expect(client.read(count: 1) == .data("x"))
        try proxy.setFault(.drop, from: "127.0.0.7", to: "n1")
        #expect(try proxy.currentFaults() == [ProxyLink(source: "127.0.0.7", destination: "n1"): .drop])
        #expect(try proxy.openConnectionCount() == 0)
    }

    @Test("drop resets the link's open connections and new ones, leaves other sources alone, and heal restores it")
    func drop() throws {
        let (proxy, echo, route) = try setUp()
        defer { proxy.stop(); echo.stop() }
        proxy.registerParty("a", address: "127.0.0.3")
        let a = try TestClient(from: "127.0.0.3", to: route.publicPort)
        let b = try TestClient(from: "127.0.0.4", to: route.publicPort)
        try a.send("1"); #expect(a.read(count: 1) == .data("1"))
        try b.send("2"); #expect(b.read(count: 1) == .data("2"))

        try proxy.setFault(.drop, from: "a", to: "n1")
        #expect(a.read(count: 1) == .reset)
        try b.send("3"); #expect(b.read(count: 1) == .data("3"))
        // A new connection from a is accepted by the kernel, then reset by the proxy.
        let again = try TestClient(from: "127.0.0.3", to: route.publicPort)
        #expect(again.read(count: 1) == .reset)

        try proxy.heal(from: "a", to: "n1")
        let healed = try TestClient(from: "127.0.0.3", to: route.publicPort)
        try healed.send("4"); #expect(healed.read(count: 1) == .data("4"))
    }

    @Test("blackhole forwards nothing and closes nothing; the held bytes flow after heal, in order")
    func blackhole() throws {
        let (proxy, echo, route) = try setUp()
        defer { proxy.stop(); echo.stop() }
        let a = try TestClient(from: "127.0.0.3", to: route.publicPort)
        let b = try TestClient(from: "127.0.0.4", to: route.publicPort)
        try a.send("warm"); #expect(a.read(count: 4) == .data("warm"))

        try proxy.setFault(.blackhole, from: "127.0.0.3", to: "n1")
        try a.send("held-1 ")
        try a.send("held-2")
        #expect(a.staysSilent(milliseconds: 300))   // no echo, and no FIN or RST either
        // A new connection during the blackhole is accepted and silent too.
        let fresh = try TestClient(from: "127.0.0.3", to: route.publicPort)
        try fresh.send("new")
        #expect(fresh.staysSilent(milliseconds: 200))
        try b.send("other"); #expect(b.read(count: 5) == .data("other"))

        try proxy.heal(from: "127.0.0.3", to: "n1")
        #expect(a.read(count: 13) == .data("held-1 held-2"))
        #expect(fresh.read(count: 3) == .data("new"))
    }

    @Test("delay holds each chunk at least the delay in each direction and keeps order when the delay shrinks")
    func delay() throws {
        let (proxy, echo, route) = try setUp()
        defer { proxy.stop(); echo.stop() }
        let a = try TestClient(from: "127.0.0.3", to: route.publicPort)
        try proxy.setFault(.delay(milliseconds: 150), from: "127.0.0.3", to: "n1")
        let clock = SystemMonotonicClock()
        let start = clock.nanoseconds()
        try a.send("ping")
        #expect(a.read(count: 4) == .data("ping"))
        // A lower bound only (the delay cannot be skipped); no upper bound, the machine is shared.
        #expect(clock.nanoseconds() - start >= 300_000_000)

        try a.send("first ")
        try proxy.setFault(.delay(milliseconds: 0), from: "127.0.0.3", to: "n1")
        try a.send("second")
        #expect(a.read(count: 12) == .data("first second"))
    }

    @Test("isolate cuts a node off from the other nodes both ways and leaves clients' links up")
    func isolate() throws {
        let proxy = try FaultProxy()
        defer { proxy.stop() }
        for (index, node) in ["n1", "n2", "n3"].enumerated() {
            try proxy.addRoute(node: node, targetHost: "127.0.0.\(index + 2)", targetPort: 1)
        }
        proxy.registerParty("clients", address: "127.0.0.20")
        try proxy.isolate("n1")
        let links = Set(try proxy.currentFaults().keys.map(\.description))
        #expect(links == ["127.0.0.2->n2", "127.0.0.2->n3", "127.0.0.3->n1", "127.0.0.4->n1"])
        #expect(try proxy.currentFaults().values.allSatisfy { $0 == .blackhole })
        try proxy.healAll()
        #expect(try proxy.currentFaults().isEmpty)
    }

    @Test("a split faults exactly the links between groups, over real connections")
    func split() throws {
        let echoes = try (2...4).map { try EchoServer(host: "127.0.0.\($0)") }
        let proxy = try FaultProxy()
        defer { proxy.stop(); echoes.forEach { $0.stop() } }
        var routes: [ProxyRoute] = []
        for (index, echo) in echoes.enumerated() {
            routes.append(try proxy.addRoute(node: "n\(index + 1)", targetHost: echo.host, targetPort: echo.port))
        }
        try proxy.partition([["n1"], ["n2", "n3"]], with: .drop)
        // n2 -> n3 (same side) works; n2 -> n1 and n1 -> n3 (across) are reset.
        let sameSide = try TestClient(from: "127.0.0.3", to: routes[2].publicPort)
        try sameSide.send("ok"); #expect(sameSide.read(count: 2) == .data("ok"))
        let across = try TestClient(from: "127.0.0.3", to: routes[0].publicPort)
        #expect(across.read(count: 1) == .reset)
        let acrossBack = try TestClient(from: "127.0.0.2", to: routes[2].publicPort)
        #expect(acrossBack.read(count: 1) == .reset)
        // A client address in no group is not partitioned from anyone.
        let client = try TestClient(from: "127.0.0.20", to: routes[0].publicPort)
        try client.send("c"); #expect(client.read(count: 1) == .data("c"))
    }

    @Test("a node that refuses connections makes the proxy reset the client")
    func refusedTarget() throws {
        let proxy = try FaultProxy()
        defer { proxy.stop() }
        let unused = try Sockets.freePort(host: "127.0.0.9")
        let route = try proxy.addRoute(node: "gone", targetHost: "127.0.0.9", targetPort: unused)
        let client = try TestClient(from: "127.0.0.3", to: route.publicPort)
        #expect(client.read(count: 1) == .reset)
    }

    @Test("control calls on a stopped proxy throw, and unknown names are typed errors")
    func errors() throws {
        let proxy = try FaultProxy()
        #expect(throws: FaultInjectionError.unknownNode("nope")) { try proxy.setFault(.drop, from: "127.0.0.3", to: "nope") }
        #expect(throws: FaultInjectionError.unknownParty("ghost")) { try proxy.address(ofParty: "ghost") }
        proxy.stop()
        #expect(throws: FaultInjectionError.proxyStopped) { try proxy.healAll() }
    }
}

@Suite("FaultProxy connect failures")
struct FaultProxyConnectFailureTests {
    @Test("a connection to the node that fails at once holds no socket afterwards (the accept path closed only the client's end)")
    func failedConnectClosesItsSocket() {
        // 224.0.0.1 (multicast) is refused by connect(2) at once with ENETUNREACH.
        let route = ProxyRoute(node: "n1", publicHost: "127.0.0.1", publicPort: 1, targetHost: "224.0.0.1", targetPort: 80)
        let connection = ProxiedConnection(link: ProxyLink(source: "127.0.0.1", destination: "n1"), route: route, client: -1)
        #expect(connection.startConnect() == false)
        #expect(connection.server == -1)
    }
}
