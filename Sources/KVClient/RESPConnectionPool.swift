// A pool of connections to one server, for callers that share a client across threads.

import RESP
import Synchronization

/// Hands out `RESPConnection`s to one endpoint; a connection returns to the pool after use
/// (unless it failed), up to `maxIdle` idle connections.
public final class RESPConnectionPool: Sendable {
    public let endpoint: RedisEndpoint
    let password: String?
    let maxIdle: Int
    let timeoutSeconds: Double
    private let idle = Mutex<[RESPConnection]>([])
    private let created = Atomic<Int>(0)

    public init(endpoint: RedisEndpoint, password: String? = nil, maxIdle: Int = 64, timeoutSeconds: Double = 30) {
        self.endpoint = endpoint
        self.password = password
        self.maxIdle = maxIdle
        self.timeoutSeconds = timeoutSeconds
    }

    /// Connections opened over the pool's life.
    public var connectionsCreated: Int { created.load(ordering: .relaxed) }

    /// Takes an idle connection or opens a new one.
    public func checkout() throws(RESPClientError) -> RESPConnection {
        if let c = idle.withLock({ $0.popLast() }), c.isOpen { return c }
        created.add(1, ordering: .relaxed)
        return try RESPConnection(endpoint: endpoint, password: password, timeoutSeconds: timeoutSeconds)
    }

    /// Returns a connection; one with unread replies or a closed socket is dropped.
    public func checkin(_ connection: RESPConnection) {
        guard connection.isOpen, connection.pendingReplies == 0 else { connection.close(); return }
        let kept = idle.withLock { list -> Bool in
            guard list.count < maxIdle else { return false }
            list.append(connection)
            return true
        }
        if !kept { connection.close() }
    }

    /// Runs `body` with a pooled connection.
    public func withConnection<R>(_ body: (RESPConnection) throws(RESPClientError) -> R) throws(RESPClientError) -> R {
        let c = try checkout()
        do {
            let r = try body(c)
            checkin(c)
            return r
        } catch {
            c.close()
            throw error
        }
    }

    /// Closes every idle connection.
    public func close() {
        let list = idle.withLock { l -> [RESPConnection] in let x = l; l = []; return x }
        for c in list { c.close() }
    }
}
