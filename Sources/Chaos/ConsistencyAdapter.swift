// The chaos run's clients: the Consistency module's register and set workloads, following the primary through the sentinels.

import Consistency
import Foundation
import History
import KVClient
import Synchronization

/// Finds the primary: the address the sentinels name (`SENTINEL get-master-addr-by-name`),
/// asked in turn, confirmed by the node's own `ROLE` (a sentinel behind a partition may still
/// name a deposed primary; Redis clients are told to check).
///
/// Each lookup starts at the next sentinel in turn, so the clients spread over the sentinels as
/// clients of different hosts would: during a partition some ask a sentinel on the old
/// primary's side (and keep writing there) while others follow the majority's failover.
public final class PrimaryResolver: Sendable {
    public let sentinels: [RedisEndpoint]
    public let masterName: String
    public let timeoutSeconds: Double
    private let nextStart = Atomic<Int>(0)

    public init(sentinels: [RedisEndpoint], masterName: String, timeoutSeconds: Double = 0.5) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.timeoutSeconds = timeoutSeconds
    }

    /// - Throws: `ChaosError.runFailed` when no sentinel names a node that says it is primary.
    public func resolve() throws -> RedisEndpoint {
        var seen: [String] = []
        let first = nextStart.add(1, ordering: .relaxed).oldValue
        for offset in 0..<sentinels.count {
            let sentinel = sentinels[(first + offset) % sentinels.count]
            guard let connection = try? RESPConnection(endpoint: sentinel, timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: timeoutSeconds),
                  let reply = try? connection.call(["SENTINEL", "get-master-addr-by-name", masterName]),
                  let pair = reply.elements, pair.count == 2, let host = pair[0].text, let port = pair[1].text.flatMap(Int.init)
            else { seen.append("\(sentinel): no answer"); continue }
            let endpoint = RedisEndpoint(host: host, port: port)
            guard let node = try? RESPConnection(endpoint: endpoint, timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: timeoutSeconds),
                  let role = try? node.call(["ROLE"]), role.elements?.first?.text == "master"
            else { seen.append("\(sentinel) names \(endpoint), which is not a primary"); continue }
            return endpoint
        }
        throw ChaosError.runFailed(stage: "finding the primary", reason: seen.joined(separator: "; "))
    }
}

/// `runConsistencyWorkload` as the run loop's workload, for every ack mode (`ack = wait N` sets
/// its WAIT-after-write step): the final reads are left to the run loop, which calls them after
/// healing and settling.
public final class ConsistencyChaosWorkload: ChaosWorkload, @unchecked Sendable {
    public let configuration: ConsistencyWorkloadConfiguration
    let resolver: PrimaryResolver

    /// - Parameters:
    ///   - kind: register or set.
    ///   - durationSeconds: how long the clients run (the run loop may stop them sooner).
    ///   - waitAfterWrite: `ack = wait N` experiments: WAIT after each write, ok only when confirmed.
    public init(kind: ConsistencyWorkloadConfiguration.Kind, clients: Int, keys: Int, durationSeconds: Double,
                requestTimeoutSeconds: Double, rateLimit: Double, seed: UInt64, resolver: PrimaryResolver,
                waitAfterWrite: ConsistencyWorkloadConfiguration.WaitStep? = nil) {
        var configuration = ConsistencyWorkloadConfiguration(kind: kind)
        configuration.clients = clients
        configuration.keys = keys
        configuration.durationSeconds = durationSeconds
        configuration.requestTimeoutSeconds = requestTimeoutSeconds
        configuration.connectTimeoutSeconds = min(1, requestTimeoutSeconds)
        configuration.operationsPerSecond = rateLimit
        configuration.seed = seed
        configuration.performsFinalReads = false
        configuration.waitAfterWrite = waitAfterWrite
        self.configuration = configuration
        self.resolver = resolver
    }

    public func run(stop: @escaping @Sendable () -> Bool) throws -> History {
        let resolver = self.resolver
        return try runConsistencyWorkload(configuration, resolve: { try resolver.resolve() }, stop: stop)
    }

    public func finalReads(appendingTo history: History) throws -> History {
        let resolver = self.resolver
        return Consistency.finalReads(configuration, resolve: { try resolver.resolve() }, appendingTo: history)
    }
}
