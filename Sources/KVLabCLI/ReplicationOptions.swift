// `kvlab serve`'s replication options, with Redis's names (replicaof, repl-backlog-size, min-replicas-*...).

import ArgumentParser
import KVServer

struct ReplicationOptions: ParsableArguments {
    @Option(name: .customLong("replicaof"), help: ArgumentHelp("Start as a replica of this primary (REPLICAOF host port at run time; REPLICAOF NO ONE promotes).", valueName: "host:port"))
    var replicaOf: String?

    @Option(name: .customLong("repl-backlog-size"), help: ArgumentHelp("Bytes of the replication stream kept for partial resync (Redis's units: 1mb, 64kb...; at least 16kb).", valueName: "size"))
    var backlogSize: String = "1mb"

    @Option(name: .customLong("repl-ack"), help: ArgumentHelp("async: reply after the local apply (Redis). sync: reply after --sync-replicas replicas acked, or a -NOREPLICAS error after --sync-timeout (the write stays applied).", valueName: "async|sync"))
    var ackMode: String = "async"

    @Option(name: .customLong("sync-replicas"), help: "Replicas that must ack a write under --repl-ack sync.")
    var syncReplicas: Int = 1

    @Option(name: .customLong("sync-timeout"), help: ArgumentHelp("Milliseconds a write waits for its acks under --repl-ack sync.", valueName: "ms"))
    var syncTimeout: Int = 1000

    @Option(name: .customLong("min-replicas-to-write"), help: "Refuse writes (-NOREPLICAS) unless this many replicas acked within --min-replicas-max-lag (0 = off).")
    var minReplicasToWrite: Int = 0

    @Option(name: .customLong("min-replicas-max-lag"), help: ArgumentHelp("Seconds since a replica's last ack for it to count as good.", valueName: "seconds"))
    var minReplicasMaxLag: Int = 10

    @Option(name: .customLong("replica-announce-ip"), help: ArgumentHelp("The address this replica gives its primary (REPLCONF ip-address), e.g. a proxy's.", valueName: "ip"))
    var announceIP: String?

    @Option(name: .customLong("replica-announce-port"), help: ArgumentHelp("The port this replica gives its primary (REPLCONF listening-port).", valueName: "port"))
    var announcePort: Int?

    @Option(name: .customLong("bind-source-addr"), help: ArgumentHelp("Local address of the connection to the primary (default: the --bind address).", valueName: "ip"))
    var bindSourceAddress: String?

    @Option(name: .customLong("repl-ack-interval-ms"), help: ArgumentHelp("How often a replica sends REPLCONF ACK.", valueName: "ms"))
    var ackIntervalMilliseconds: Int = 100

    @Option(name: .customLong("repl-timeout"), help: ArgumentHelp("Seconds of silence after which a replica drops its link to the primary, and a primary a replica that sent no ACK (Redis: 60; fractions allowed).", valueName: "seconds"))
    var timeout: Double = 60

    @Option(name: .customLong("repl-ping-replica-period"), help: ArgumentHelp("Seconds between the PINGs a primary puts in an idle stream (Redis: 10; fractions allowed).", valueName: "seconds"))
    var pingPeriod: Double = 10

    /// The library's configuration, or a validation error naming the option.
    func configuration() throws -> ReplicationConfiguration {
        var c = ReplicationConfiguration()
        if let replicaOf {
            do { c.replicaOf = try ReplicationEndpoint(parsing: replicaOf) } catch { throw ValidationError("--replicaof: \(error)") }
        }
        guard let size = OutputBufferLimit.memorySize(backlogSize), size >= 16 * 1024 else {
            throw ValidationError("--repl-backlog-size \(backlogSize): expected a size of at least 16kb (1mb, 65536, 64kb...)")
        }
        c.backlogSize = size
        guard let mode = ReplicationAckMode(rawValue: ackMode.lowercased()) else {
            throw ValidationError("--repl-ack \(ackMode): expected async or sync")
        }
        c.ackMode = mode
        guard syncReplicas >= 1 else { throw ValidationError("--sync-replicas \(syncReplicas): expected at least 1") }
        c.syncReplicas = syncReplicas
        guard syncTimeout >= 1 else { throw ValidationError("--sync-timeout \(syncTimeout): expected milliseconds >= 1") }
        c.syncTimeoutMilliseconds = syncTimeout
        guard minReplicasToWrite >= 0 else { throw ValidationError("--min-replicas-to-write \(minReplicasToWrite): expected >= 0") }
        c.minReplicasToWrite = minReplicasToWrite
        guard minReplicasMaxLag >= 0 else { throw ValidationError("--min-replicas-max-lag \(minReplicasMaxLag): expected seconds >= 0") }
        c.minReplicasMaxLagSeconds = minReplicasMaxLag
        c.announceIP = announceIP
        if let announcePort {
            guard (1...65535).contains(announcePort) else { throw ValidationError("--replica-announce-port \(announcePort): expected 1...65535") }
            c.announcePort = announcePort
        }
        c.bindSourceAddress = bindSourceAddress
        guard ackIntervalMilliseconds >= 1 else { throw ValidationError("--repl-ack-interval-ms \(ackIntervalMilliseconds): expected >= 1") }
        c.ackIntervalMilliseconds = ackIntervalMilliseconds
        guard timeout > 0, timeout <= 86_400 else { throw ValidationError("--repl-timeout \(timeout): expected seconds in (0, 86400]") }
        c.timeoutMilliseconds = max(1, Int(timeout * 1000))
        guard pingPeriod > 0, pingPeriod <= 86_400 else { throw ValidationError("--repl-ping-replica-period \(pingPeriod): expected seconds in (0, 86400]") }
        c.pingReplicaPeriodMilliseconds = max(1, Int(pingPeriod * 1000))
        return c
    }
}
