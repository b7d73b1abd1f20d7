// Server-wide counters for INFO: connections, commands, keyspace hits and misses.

import Synchronization

/// Counters shared by every connection. Connections add their per-command counts in batches.
public final class ServerStatistics: Sendable {
    public let totalConnectionsReceived = Atomic<Int>(0)
    public let connectedClients = Atomic<Int>(0)
    public let rejectedConnections = Atomic<Int>(0)
    public let totalCommandsProcessed = Atomic<Int>(0)
    public let keyspaceHits = Atomic<Int>(0)
    public let keyspaceMisses = Atomic<Int>(0)
    public let totalNetInputBytes = Atomic<Int>(0)
    public let totalNetOutputBytes = Atomic<Int>(0)
    public let protocolErrors = Atomic<Int>(0)
    /// Failed AUTH and HELLO ... AUTH attempts (INFO's `acl_access_denied_auth`, Redis 7.2's name).
    public let authenticationFailures = Atomic<Int>(0)
    /// Clients closed for exceeding `client-output-buffer-limit` (INFO's
    /// `client_output_buffer_limit_disconnections`, Redis 7.2's name).
    public let outputBufferLimitDisconnections = Atomic<Int>(0)
    /// Keys deleted because their deadline passed, lazily or by active expiry (INFO `expired_keys`).
    public let expiredKeys = Atomic<Int>(0)
    /// The largest `used_memory` INFO has reported (Redis's `used_memory_peak`, sampled at INFO).
    public let peakMemory = Atomic<Int>(0)

    /// Records `allocated` as a candidate peak and returns the peak so far.
    public func notePeakMemory(_ allocated: Int) -> Int {
        var current = peakMemory.load(ordering: .relaxed)
        while allocated > current {
            let (exchanged, original) = peakMemory.compareExchange(expected: current, desired: allocated, ordering: .relaxed)
            if exchanged { return allocated }
            current = original
        }
        return current
    }
    let nextClientID = Atomic<Int64>(0)
    /// When the server started, milliseconds since the epoch.
    public let startMilliseconds: Int64

    public init(startMilliseconds: Int64) { self.startMilliseconds = startMilliseconds }

    /// A new CLIENT ID.
    public func makeClientID() -> Int64 { nextClientID.add(1, ordering: .relaxed).newValue }

    /// Moves a connection's pending counters into the shared totals.
    public func collect(_ state: inout ConnectionState) {
        if state.pendingCommands > 0 { totalCommandsProcessed.add(state.pendingCommands, ordering: .relaxed) }
        if state.pendingHits > 0 { keyspaceHits.add(state.pendingHits, ordering: .relaxed) }
        if state.pendingMisses > 0 { keyspaceMisses.add(state.pendingMisses, ordering: .relaxed) }
        state.pendingCommands = 0
        state.pendingHits = 0
        state.pendingMisses = 0
    }
}
