// Finding a replicated group's primary by asking its Sentinels, as Redis's Sentinel clients do.

import RESP

/// Asks sentinels which server is the primary of a named group, and confirms it with `ROLE`.
///
/// The protocol is Redis's client guideline for Sentinel: ask the sentinels in turn with
/// `SENTINEL get-master-addr-by-name NAME`; the first that answers with an address wins (it
/// moves to the front of the list for next time); then connect to that address and send
/// `ROLE`, because a sentinel can lag behind a failover: a server that does not say `master`
/// is not used, and the next sentinel is asked. Works against `kvlab sentinel` and
/// `redis-sentinel`. Not thread-safe (one driver thread owns each; copies are independent).
public struct SentinelDiscovery: Sendable {
    /// The sentinels, the one that answered last first.
    public private(set) var sentinels: [RedisEndpoint]
    /// The monitored group's name (`sentinel monitor NAME ...`).
    public let masterName: String
    /// Timeouts for the sentinel and ROLE connections.
    public let settings: ConnectionSettings
    /// The local address sockets are bound to (nil: the kernel's choice).
    public let sourceHost: String?
    /// The password of the data nodes (sent before ROLE); sentinels are asked without one.
    public let password: String?

    /// - Parameters:
    ///   - sentinels: at least one sentinel address.
    ///   - masterName: the group's name.
    ///   - settings: connect and I/O timeouts (backoff is not used here: one pass per call).
    ///   - sourceHost: the local address sockets are bound to.
    ///   - password: the data nodes' password, for the ROLE check.
    public init(sentinels: [RedisEndpoint], masterName: String, settings: ConnectionSettings = ConnectionSettings(ioTimeoutSeconds: 2, connectTimeoutSeconds: 2),
                sourceHost: String? = nil, password: String? = nil) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.settings = settings
        self.sourceHost = sourceHost
        self.password = password
    }

    /// The current primary: the first address a sentinel gives whose server confirms with `ROLE`.
    /// - Throws: `.sentinel` listing what each sentinel answered when none led to a primary.
    public mutating func primary() throws(RESPClientError) -> RedisEndpoint {
        var failures: [String] = []
        for (index, sentinel) in sentinels.enumerated() {
            do {
                let address = try Self.ask(sentinel, masterName: masterName, settings: settings, sourceHost: sourceHost)
                guard let address else {
                    failures.append("\(sentinel): does not monitor '\(masterName)'")
                    continue
                }
                let role = try confirmRole(of: address)
                guard role == "master" else {
                    failures.append("\(sentinel): named \(address), whose ROLE is \(role)")
                    continue
                }
                if index > 0 { sentinels.swapAt(0, index) }
                return address
            } catch {
                failures.append("\(sentinel): \(error)")
            }
        }
        throw .sentinel("no primary found for '\(masterName)': " + failures.joined(separator: "; "))
    }

    /// One sentinel's answer to `SENTINEL get-master-addr-by-name` (nil: the name is unknown).
    /// - Throws: connection failures, error replies, or a reply not shaped `[host, port]`.
    public static func ask(_ sentinel: RedisEndpoint, masterName: String, settings: ConnectionSettings,
                           sourceHost: String? = nil) throws(RESPClientError) -> RedisEndpoint? {
        let connection = try RESPConnection(endpoint: sentinel, timeoutSeconds: settings.ioTimeoutSeconds,
                                            connectTimeoutSeconds: settings.connectTimeoutSeconds, sourceHost: sourceHost)
        defer { connection.close() }
        let reply = try connection.call(["SENTINEL", "get-master-addr-by-name", masterName])
        if reply.isNull { return nil }
        if reply.isError { throw .server(reply.text ?? "\(reply)") }
        guard let parts = reply.elements, parts.count == 2, let host = parts[0].text,
              let portText = parts[1].text, let port = Int(portText), (1...65535).contains(port) else {
            throw .sentinel("\(sentinel) answered get-master-addr-by-name with \(reply); expected two bulk strings [host, port]")
        }
        return RedisEndpoint(host: host, port: port)
    }

    /// The first element of `ROLE` on `address` ("master", "slave", ...).
    private func confirmRole(of address: RedisEndpoint) throws(RESPClientError) -> String {
        let connection = try RESPConnection(endpoint: address, password: password, timeoutSeconds: settings.ioTimeoutSeconds,
                                            connectTimeoutSeconds: settings.connectTimeoutSeconds, sourceHost: sourceHost)
        defer { connection.close() }
        let reply = try connection.call(["ROLE"])
        if reply.isError { throw .server(reply.text ?? "\(reply)") }
        guard let role = reply.elements?.first?.text else {
            throw .sentinel("\(address) answered ROLE with \(reply); expected an array starting with the role")
        }
        return role
    }
}
