// The server's settings, with Redis's names and defaults where Redis has them.

import RESP

/// How a `RESPServer` listens and what it allows.
public struct ServerConfiguration: Sendable {
    /// Address to bind (`bind`); loopback by default.
    public var host: String
    /// TCP port (`port`); 0 picks a free one.
    public var port: Int
    /// Event loop threads.
    public var threads: Int
    /// Password every client must give with AUTH or HELLO (`requirepass`); nil = none.
    public var requirePassword: String?
    /// Most clients connected at once (`maxclients`).
    public var maxClients: Int
    /// Seconds a client may stay idle before it is disconnected (`timeout`); 0 = never.
    public var idleTimeoutSeconds: Int
    /// Parser limits: `proto-max-bulk-len`, array length, inline size, `client-query-buffer-limit`.
    public var limits: RESPLimits
    /// The engine name shown by INFO.
    public var engineName: String
    /// appendfsync and the engine's durability policy (nil: an in-memory engine); see `ServerDurability`.
    public var durability: ServerDurability? = nil

    public init(host: String = "127.0.0.1", port: Int = 6379, threads: Int = 1, requirePassword: String? = nil,
                maxClients: Int = 10000, idleTimeoutSeconds: Int = 0, limits: RESPLimits = .default, engineName: String = "") {
        self.host = host
        self.port = port
        self.threads = threads
        self.requirePassword = requirePassword
        self.maxClients = maxClients
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.limits = limits
        self.engineName = engineName
    }
}
