// A fault-injecting TCP proxy on loopback: every client-to-node and node-to-node link of an
// experiment passes through it, and each link can be dropped, blackholed, delayed or healed.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVCore

/// A fault on one link.
public enum LinkFault: Sendable, Equatable, CustomStringConvertible {
    /// Existing connections are closed with an RST at both ends; new ones are accepted and reset at
    /// once (as a firewall's `REJECT --reject-with tcp-reset`).
    case drop
    /// Nothing is forwarded in either direction and nothing is closed, as with iptables `DROP`:
    /// bytes wait (in the proxy and in the kernel's socket buffers, so senders block once those
    /// fill) and flow again on heal, as TCP's retransmissions would deliver them; an endpoint that
    /// gave up meanwhile sees its own timeout. New connections are accepted but not forwarded
    /// to the node until heal.
    case blackhole
    /// Every chunk is delivered `milliseconds` after the proxy read it, in each direction, order kept.
    case delay(milliseconds: Int)

    public var description: String {
        switch self {
        case .drop: return "drop"
        case .blackhole: return "blackhole"
        case .delay(let ms): return "delay \(ms)ms"
        }
    }
}

/// A directed link: connections opened by the party at `source` (its IP) to the node `destination`.
public struct ProxyLink: Hashable, Sendable, CustomStringConvertible {
    /// The source party's loopback address (the connection's source IP).
    public var source: String
    /// The node (route) name.
    public var destination: String

    public init(source: String, destination: String) {
        self.source = source
        self.destination = destination
    }

    public var description: String { "\(source)->\(destination)" }
}

/// How the proxy tells which party opened a connection to a route.
public enum ConnectionClassifier: Sendable, Equatable {
    /// By the connection's source IP (parties bind their outgoing sockets to 127.0.0.K).
    case sourceAddress
    /// By the value of this HTTP header in the connection's first request, mapped to a party's
    /// address with `FaultProxy.setHeaderParties` (see FaultProxy+HeaderClassification.swift).
    /// For parties that cannot bind a source address, such as etcd's peer dialer, whose every
    /// rafthttp request carries `X-Server-From: <member id>`. Nothing reaches the node until
    /// the client has sent its request head (HTTP clients speak first); a connection without the
    /// header keeps its source address as its party.
    case httpHeader(String)
}

/// A node reachable through the proxy: its public address (what everyone uses) and its real one.
public struct ProxyRoute: Sendable, Equatable {
    /// The node's name (the destination of links).
    public var node: String
    /// Where the proxy listens for this node (127.0.0.1:P).
    public var publicHost: String
    public var publicPort: Int
    /// Where the node really listens (127.0.0.K:R).
    public var targetHost: String
    public var targetPort: Int
    /// How connections to this route are assigned to a party (the source of their link).
    public var classifier: ConnectionClassifier = .sourceAddress
}

/// An in-process TCP proxy that injects faults per link.
///
/// Topology (docs: issue 15 contracts): each party of an experiment has its own loopback address
/// 127.0.0.K and binds its outgoing sockets to it, each node listens on its own address, and the
/// proxy listens on 127.0.0.1:P (the node's public address) and forwards to 127.0.0.K:R. The proxy
/// tells parties apart by a connection's source IP, so a link is (source IP, destination node).
///
/// Why one thread and `poll(2)`: the proxy must stay cheap and bounded on a loaded 2-core machine.
/// One event-loop thread serves every route and connection (at most `maximumConnections`, beyond
/// which new connections are reset), each direction buffers at most `bufferLimit` bytes before
/// the proxy stops reading from the sender (TCP's own flow control then slows it), and delays are
/// due times on queued chunks, not sleeping threads. Control calls (`setFault`, `heal`, ...) are
/// run on the loop thread and return once applied, so after `setFault(.drop, ...)` returns the
/// link's connections are already reset.
public final class FaultProxy: @unchecked Sendable {
    /// Connections beyond this are reset on accept.
    public let maximumConnections: Int
    /// Bytes buffered per connection direction before the proxy stops reading the sender.
    public let bufferLimit: Int

    private let clock: any MonotonicClock
    private let wakeFD: Int32       // read end of the wake-up pipe, polled by the loop
    private let wakeWriteFD: Int32
    private let controlLock = Lock()
    private var pendingControl: [() -> Void] = []
    private var stopped = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    // Loop-thread state (touched only by the loop thread, or under `controlLock` before start).
    private var listeners: [Int32: ProxyRoute] = [:]
    var connections: [Int: ProxiedConnection] = [:]
    private var nextConnectionID = 0
    var faults: [ProxyLink: LinkFault] = [:]
    private var totalAccepted = 0
    /// Header value (lowercased) → party address, for `.httpHeader` routes.
    var headerParties: [String: String] = [:]

    // Party and route tables, read by any thread (under `controlLock`).
    private var routesByNode: [String: ProxyRoute] = [:]
    private var partyAddresses: [String: String] = [:]

    /// Starts the proxy's thread; routes are added with `addRoute`.
    /// - Parameters:
    ///   - maximumConnections: open connections the proxy keeps at most.
    ///   - bufferLimit: bytes held per direction of a connection (delayed or blackholed) before
    ///     the proxy stops reading from the sender.
    public init(maximumConnections: Int = 1024, bufferLimit: Int = 4 << 20,
                clock: any MonotonicClock = SystemMonotonicClock()) throws(FaultInjectionError) {
        self.maximumConnections = maximumConnections
        self.bufferLimit = bufferLimit
        self.clock = clock
        var ends: [Int32] = [-1, -1]
        guard Sockets.pipe2(&ends, O_NONBLOCK | O_CLOEXEC) == 0 else { throw .socket(operation: "pipe2", address: "-", errno: errno) }
        wakeFD = ends[0]
        wakeWriteFD = ends[1]
        let thread = Thread { [self] in
            self.runLoop()
            self.finished.signal()
        }
        thread.name = "kvlab-fault-proxy"
        self.thread = thread
        thread.start()
    }

    deinit {
        stop()
        _ = Glibc.close(wakeFD)
        _ = Glibc.close(wakeWriteFD)
    }

    /// Closes every listener and connection and ends the thread (idempotent).
    public func stop() {
        let first: Bool = controlLock.withLock {
            if stopped { return false }
            stopped = true
            return true
        }
        guard first else { return }
        wake()
        finished.wait()
    }

    // MARK: - Routes and parties

    /// Listens on `publicHost:publicPort` (0 = a free port) and forwards to `targetHost:targetPort`.
    /// The node is also registered as a party with its target host as its address, since a node
    /// binds its outgoing connections to the address it listens on.
    /// - Returns: the route, with the public port actually bound.
    /// - Throws: `.duplicateName` for a node already routed, `.socket` if the port cannot be bound.
    @discardableResult
    public func addRoute(node: String, publicHost: String = "127.0.0.1", publicPort: Int = 0,
                         targetHost: String, targetPort: Int,
                         classifier: ConnectionClassifier = .sourceAddress) throws(FaultInjectionError) -> ProxyRoute {
        guard Sockets.address(targetHost, targetPort) != nil else {
            throw .invalidAddress(targetHost, expected: "an IPv4 address such as 127.0.0.2")
        }
        if controlLock.withLock({ routesByNode[node] != nil }) { throw .duplicateName(node) }
        let (fd, port) = try Sockets.listen(host: publicHost, port: publicPort)
        let route = ProxyRoute(node: node, publicHost: publicHost, publicPort: port, targetHost: targetHost, targetPort: targetPort,
                               classifier: classifier)
        controlLock.withLock {
            routesByNode[node] = route
            if partyAddresses[node] == nil { partyAddresses[node] = targetHost }
        }
        try perform { $0.listeners[fd] = route }
        return route
    }

    /// Names a party (a client group, or a node not behind the proxy) by its source address.
    public func registerParty(_ name: String, address: String) {
        controlLock.withLock { partyAddresses[name] = address }
    }

    /// The route of `node`, if one was added.
    public func route(of node: String) -> ProxyRoute? { controlLock.withLock { routesByNode[node] } }

    /// Every routed node's name.
    public var nodes: [String] { controlLock.withLock { Array(routesByNode.keys).sorted() } }

    /// The address of a registered party, or `party` itself when it is an IPv4 address.
    public func address(ofParty party: String) throws(FaultInjectionError) -> String {
        if let address = controlLock.withLock({ partyAddresses[party] }) { return address }
        if Sockets.address(party, 0) != nil { return party }
        throw .unknownParty(party)
    }

    // MARK: - Faults

    /// Sets (or with nil, heals) the fault on connections from `party` (a registered name or an
    /// IP address) to `node`; applied to open connections before this returns.
    public func setFault(_ fault: LinkFault?, from party: String, to node: String) throws(FaultInjectionError) {
        let source = try address(ofParty: party)
        guard route(of: node) != nil else { throw .unknownNode(node) }
        try setFaults([ProxyLink(source: source, destination: node): fault])
    }

    /// Delays every link in `links` by `milliseconds` (replication lag), or heals their delay at 0.
    public func setDelay(milliseconds: Int, on links: [ProxyLink]) throws(FaultInjectionError) {
        var changes: [ProxyLink: LinkFault?] = [:]
        // updateValue: assigning nil through the subscript would drop the entry, not heal the link.
        for link in links { changes.updateValue(milliseconds > 0 ? .delay(milliseconds: milliseconds) : nil, forKey: link) }
        try setFaults(changes)
    }

    /// Sets several link faults at once (nil heals a link), applied atomically on the loop thread.
    public func setFaults(_ changes: [ProxyLink: LinkFault?]) throws(FaultInjectionError) {
        try perform { proxy in
            for (link, fault) in changes {
                proxy.faults[link] = fault
                if fault == .drop { proxy.resetConnections(on: link) }
            }
        }
    }

    /// Heals the link from `party` to `node`.
    public func heal(from party: String, to node: String) throws(FaultInjectionError) {
        try setFault(nil, from: party, to: node)
    }

    /// Heals every link.
    public func healAll() throws(FaultInjectionError) {
        try perform { $0.faults.removeAll() }
    }

    /// The faults in force, by link.
    public func currentFaults() throws(FaultInjectionError) -> [ProxyLink: LinkFault] {
        var result: [ProxyLink: LinkFault] = [:]
        try perform { result = $0.faults }
        return result
    }

    /// Cuts `node` off from every other routed node, both ways (links to and from parties that
    /// have no route, such as clients, stay up, as in Jepsen's partitions between servers).
    public func isolate(_ node: String, with fault: LinkFault = .blackhole) throws(FaultInjectionError) {
        let others = nodes.filter { $0 != node }
        guard route(of: node) != nil else { throw .unknownNode(node) }
        try partition([[node], others], with: fault)
    }

    /// Splits parties into groups: every link between parties of different groups gets `fault`,
    /// in both directions (a link exists only towards a routed node). Parties not named in any
    /// group keep their links.
    public func partition(_ groups: [[String]], with fault: LinkFault = .blackhole) throws(FaultInjectionError) {
        var changes: [ProxyLink: LinkFault?] = [:]
        let routed = Set(nodes)
        for (i, group) in groups.enumerated() {
            for (j, other) in groups.enumerated() where i != j {
                for source in group {
                    let address = try self.address(ofParty: source)
                    for destination in other where routed.contains(destination) {
                        changes[ProxyLink(source: address, destination: destination)] = fault
                    }
                }
            }
        }
        try setFaults(changes)
    }

    /// Connections currently open through the proxy.
    public func openConnectionCount() throws(FaultInjectionError) -> Int {
        var count = 0
        try perform { count = $0.connections.count }
        return count
    }

    /// Connections accepted since the proxy started (including reset ones).
    public func acceptedConnectionCount() throws(FaultInjectionError) -> Int {
        var count = 0
        try perform { count = $0.totalAccepted }
        return count
    }

    // MARK: - Control

    /// Runs `body` on the loop thread and waits for it.
    func perform(_ body: @escaping (FaultProxy) -> Void) throws(FaultInjectionError) {
        let done = DispatchSemaphore(value: 0)
        let accepted: Bool = controlLock.withLock {
            if stopped { return false }
            pendingControl.append { [unowned self] in body(self); done.signal() }
            return true
        }
        guard accepted else { throw .proxyStopped }
        wake()
        done.wait()
    }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeWriteFD, &one, 8)
    }

    func delayNanoseconds(for link: ProxyLink) -> UInt64 {
        if case .delay(let ms)? = faults[link] { return UInt64(max(0, ms)) * 1_000_000 }
        return 0
    }

    private func resetConnections(on link: ProxyLink) {
        for (id, connection) in connections where connection.link == link {
            connection.reset()
            connections[id] = nil
        }
    }
}

// MARK: - The event loop

/// One direction of a proxied connection: chunks read from one socket, due for the other.
struct ProxyDirection {
    var chunks: [(due: UInt64, bytes: [UInt8])] = []
    var head = 0
    var offset = 0
    var bufferedBytes = 0
    var lastDue: UInt64 = 0
    var sawEndOfFile = false
    var shutDown = false

    var isEmpty: Bool { head == chunks.count }

    mutating func append(_ bytes: [UInt8], due: UInt64) {
        let due = max(due, lastDue)   // a shorter delay set later must not reorder bytes
        lastDue = due
        chunks.append((due, bytes))
        bufferedBytes += bytes.count
    }

    func nextDue() -> UInt64? { isEmpty ? nil : chunks[head].due }

    /// Writes every due chunk it can to `fd`. Returns false when the socket failed.
    mutating func deliver(to fd: Int32, now: UInt64) -> Bool {
        while head < chunks.count, chunks[head].due <= now {
            let written = chunks[head].bytes.withUnsafeBytes { buffer in
                send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            }
            if written < 0 {
                return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
            }
            offset += written
            bufferedBytes -= written
            if offset == chunks[head].bytes.count {
                chunks[head].bytes = []
                head += 1
                offset = 0
            } else {
                return true   // the socket buffer is full; POLLOUT resumes
            }
        }
        if head == chunks.count { chunks.removeAll(keepingCapacity: true); head = 0 }
        else if head > 64 && head * 2 > chunks.count { chunks.removeFirst(head); head = 0 }
        return true
    }
}

/// A client connection accepted by the proxy and its connection to the node.
final class ProxiedConnection {
    /// Fixed at accept for source-address routes; for header routes, set once the first
    /// request's headers are read (and again if the header's party mapping changes).
    var link: ProxyLink
    let route: ProxyRoute
    /// A header route's connection whose first request headers are still being read: nothing
    /// is forwarded and no connection to the node exists yet.
    var classifying = false
    /// Bytes read while classifying (forwarded once the link is known).
    var peeked: [UInt8] = []
    /// The classifying header's value, once read (nil: absent, or a source-address route).
    var headerValue: String?
    var client: Int32
    var server: Int32 = -1
    var connecting = false
    var toServer = ProxyDirection()
    var toClient = ProxyDirection()

    init(link: ProxyLink, route: ProxyRoute, client: Int32) {
        self.link = link
        self.route = route
        self.client = client
    }

    /// Resets both ends (RST), as a dropped link or a failed peer does.
    func reset() {
        Sockets.resetAndClose(client)
        Sockets.resetAndClose(server)
        client = -1
        server = -1
    }

    /// Closes both ends normally (both directions finished).
    func close() {
        if client >= 0 { _ = Glibc.close(client) }
        if server >= 0 { _ = Glibc.close(server) }
        client = -1
        server = -1
    }

    /// Starts the non-blocking connect to the node. Returns false if it failed at once.
    func startConnect() -> Bool {
        guard let address = Sockets.address(route.targetHost, route.targetPort) else { return false }
        let fd = Sockets.tcpSocket()
        guard fd >= 0 else { return false }
        Sockets.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        server = fd
        if Sockets.connect(fd, address) == 0 { connecting = false; return true }
        if errno == EINPROGRESS { connecting = true; return true }
        // Failed at once (ENETUNREACH, EADDRNOTAVAIL...): close the socket here, since the
        // accept path resets only the client's end.
        _ = Glibc.close(fd)
        server = -1
        return false
    }
}

extension FaultProxy {
    private static let readChunkSize = 64 * 1024

    private func runLoop() {
        var readBuffer = [UInt8](repeating: 0, count: Self.readChunkSize)
        while true {
            let (control, isStopped) = controlLock.withLock { () -> ([() -> Void], Bool) in
                let work = pendingControl
                pendingControl.removeAll()
                return (work, stopped)
            }
            for work in control { work() }
            if isStopped { break }

            let now = clock.nanoseconds()
            var descriptors: [pollfd] = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            var owners: [(connection: Int, isClient: Bool)?] = [nil]
            for fd in listeners.keys {
                descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                owners.append(nil)
            }
            var timeout: Int32 = -1
            for (id, connection) in connections {
                if connection.classifying {
                    descriptors.append(pollfd(fd: connection.client, events: Int16(POLLIN), revents: 0))
                    owners.append((id, true))
                    continue
                }
                let held = faults[connection.link] == .blackhole
                if held { continue }   // a blackholed link is not even watched: nothing moves
                if connection.server < 0 {
                    // Accepted during a blackhole: connect to the node now that the link is up.
                    if !connection.startConnect() { connection.reset(); connections[id] = nil; continue }
                }
                var clientEvents: Int16 = 0, serverEvents: Int16 = 0
                if !connection.toServer.sawEndOfFile && connection.toServer.bufferedBytes < bufferLimit { clientEvents |= Int16(POLLIN) }
                if connection.connecting {
                    serverEvents |= Int16(POLLOUT)
                } else {
                    if !connection.toClient.sawEndOfFile && connection.toClient.bufferedBytes < bufferLimit { serverEvents |= Int16(POLLIN) }
                    if let due = connection.toServer.nextDue() {
                        if due <= now { serverEvents |= Int16(POLLOUT) } else { timeout = minTimeout(timeout, due - now) }
                    }
                }
                if let due = connection.toClient.nextDue() {
                    if due <= now { clientEvents |= Int16(POLLOUT) } else { timeout = minTimeout(timeout, due - now) }
                }
                if clientEvents != 0 {
                    descriptors.append(pollfd(fd: connection.client, events: clientEvents, revents: 0))
                    owners.append((id, true))
                }
                if serverEvents != 0 {
                    descriptors.append(pollfd(fd: connection.server, events: serverEvents, revents: 0))
                    owners.append((id, false))
                }
            }

            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 && errno != EINTR { break }
            if descriptors[0].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 256)
                while Glibc.read(wakeFD, &drain, drain.count) > 0 {}
            }
            let afterPoll = clock.nanoseconds()
            for index in 1..<descriptors.count where descriptors[index].revents != 0 {
                let events = descriptors[index].revents
                guard let owner = owners[index] else {
                    acceptAll(on: descriptors[index].fd)
                    continue
                }
                guard let connection = connections[owner.connection], connection.client >= 0 else { continue }
                if !service(connection, isClient: owner.isClient, events: events, now: afterPoll, buffer: &readBuffer) {
                    connection.reset()
                    connections[owner.connection] = nil
                    continue
                }
                if connection.toServer.shutDown && connection.toClient.shutDown {
                    connection.close()
                    connections[owner.connection] = nil
                }
            }
        }
        for (_, connection) in connections { connection.reset() }
        connections.removeAll()
        for fd in listeners.keys { _ = Glibc.close(fd) }
        listeners.removeAll()
    }

    private func minTimeout(_ current: Int32, _ nanoseconds: UInt64) -> Int32 {
        let ms = Int32(min(UInt64(Int32.max), (nanoseconds + 999_999) / 1_000_000))
        return current < 0 ? ms : min(current, ms)
    }

    private func acceptAll(on listener: Int32) {
        guard let route = listeners[listener] else { return }
        while true {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Sockets.accept4(listener, $0, &length, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
                }
            }
            if fd < 0 { return }
            totalAccepted += 1
            let link = ProxyLink(source: Sockets.describe(address).host, destination: route.node)
            if case .httpHeader = route.classifier, connections.count < maximumConnections {
                // The party is known only once the first request's headers are read.
                Sockets.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
                let connection = ProxiedConnection(link: link, route: route, client: fd)
                connection.classifying = true
                connections[nextConnectionID] = connection
                nextConnectionID += 1
                continue
            }
            if faults[link] == .drop || connections.count >= maximumConnections {
                Sockets.resetAndClose(fd)
                continue
            }
            Sockets.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let connection = ProxiedConnection(link: link, route: route, client: fd)
            if faults[link] != .blackhole && !connection.startConnect() {
                Sockets.resetAndClose(fd)
                continue
            }
            connections[nextConnectionID] = connection
            nextConnectionID += 1
        }
    }

    /// Moves bytes for one ready socket. Returns false when the connection must be reset.
    private func service(_ connection: ProxiedConnection, isClient: Bool, events: Int16, now: UInt64,
                         buffer: inout [UInt8]) -> Bool {
        if connection.classifying { return classify(connection, now: now, buffer: &buffer) }
        if !isClient && connection.connecting {
            guard Sockets.pendingError(connection.server) == 0 else { return false }   // the node refused: reset the client
            connection.connecting = false
            return true
        }
        let fd = isClient ? connection.client : connection.server
        if events & Int16(POLLIN) != 0 || events & Int16(POLLERR | POLLHUP) != 0 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                let due = now + delayNanoseconds(for: connection.link)
                if isClient { connection.toServer.append(Array(buffer[0..<n]), due: due) }
                else { connection.toClient.append(Array(buffer[0..<n]), due: due) }
            } else if n == 0 {
                if isClient { connection.toServer.sawEndOfFile = true } else { connection.toClient.sawEndOfFile = true }
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                return false   // ECONNRESET and friends: pass the reset on
            }
        }
        // Deliver whatever is due in both directions (cheap; avoids waiting for another POLLOUT).
        if !connection.connecting {
            guard connection.toServer.deliver(to: connection.server, now: now) else { return false }
        }
        guard connection.toClient.deliver(to: connection.client, now: now) else { return false }
        // A FIN is passed on once everything before it was delivered (half-close kept).
        if connection.toServer.sawEndOfFile && connection.toServer.isEmpty && !connection.toServer.shutDown && !connection.connecting {
            shutdown(connection.server, Int32(SHUT_WR))
            connection.toServer.shutDown = true
        }
        if connection.toClient.sawEndOfFile && connection.toClient.isEmpty && !connection.toClient.shutDown {
            shutdown(connection.client, Int32(SHUT_WR))
            connection.toClient.shutDown = true
        }
        return true
    }
}
