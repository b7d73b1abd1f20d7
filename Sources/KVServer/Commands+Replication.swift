// Replication commands (PSYNC, REPLCONF, REPLICAOF/SLAVEOF, ROLE, WAIT) and the ordered execution of writes.

import KVCore
import NIOCore
import RESP

extension CommandExecutor {
    static let replicationCommands: [CommandSpec] = [
        CommandSpec(name: "psync", arity: 3, flags: ["admin", "noscript"], firstKey: 0, lastKey: 0, step: 0) { $0.psync($1, &$2, &$3) },
        CommandSpec(name: "replconf", arity: -1, flags: ["admin", "noscript", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0) {
            $0.replconf($1, &$2, &$3)
        },
        CommandSpec(name: "replicaof", arity: 3, flags: ["admin", "noscript", "stale"], firstKey: 0, lastKey: 0, step: 0, lockFree: true) {
            $0.replicaof($1, &$2, &$3)
        },
        CommandSpec(name: "slaveof", arity: 3, flags: ["admin", "noscript", "stale"], firstKey: 0, lastKey: 0, step: 0, lockFree: true) {
            $0.replicaof($1, &$2, &$3)
        },
        CommandSpec(name: "role", arity: 1, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, lockFree: true) { e, _, _, r in
            e.replication.roleReply(&r)
        },
        CommandSpec(name: "wait", arity: 3, flags: ["noscript"], firstKey: 0, lastKey: 0, step: 0, lockFree: true) { $0.wait($1, &$2, &$3) },
    ]

    /// A command that writes, EXEC, or PSYNC: runs holding the replication order lock, so the
    /// order of the units in the stream is the order the engine applied them, and ships what
    /// it wrote as one unit (EXEC: one unit for the whole block). Under `--repl-ack sync` a
    /// write's reply is then held back until enough replicas ack its offset.
    func executeOrdered(_ spec: CommandSpec, _ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        let replyStart = reply.buffer.writerIndex
        var shipped = false
        replication.writeOrder.lock()
        keyspace.withCommandLock(exclusive: spec.exclusive) {
            spec.handler(self, command, &state, &reply)
        }
        let ops = keyspace.mutations.drain()
        if !ops.isEmpty {
            replication.append(ReplicationStream.encode(ops))
            shipped = true
        }
        let offset = replication.offset
        replication.writeOrder.unlock()
        guard spec.isWrite || shipped else { return }
        state.lastWriteOffset = offset
        let configuration = replication.configuration
        guard configuration.ackMode == .sync, !replication.isReplica else { return }
        // A refused command wrote nothing: its error goes out at once.
        let first = reply.buffer.getInteger(at: replyStart, as: UInt8.self)
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "!") { return }
        let length = reply.buffer.writerIndex - replyStart
        let held = reply.buffer.getBytes(at: replyStart, length: length) ?? []
        reply.buffer.moveWriterIndex(to: replyStart)
        state.waitRequest = ReplicationWaitRequest(targetOffset: offset, replicasNeeded: configuration.syncReplicas,
                                                   timeoutMilliseconds: configuration.syncTimeoutMilliseconds, kind: .syncWrite(reply: held))
    }

    /// Writes the reply a wait ends with: WAIT's count, or a sync write's own reply when
    /// enough replicas acked and an error otherwise (the write stays applied on the primary).
    public func completeWait(_ request: ReplicationWaitRequest, count: Int, reply: inout Reply) {
        switch request.kind {
        case .wait:
            reply.integer(count)
        case .syncWrite(let held):
            if count >= request.replicasNeeded {
                reply.buffer.writeBytes(held)
            } else {
                reply.error("NOREPLICAS Not enough replicas acknowledged the write in time (\(count) of \(request.replicasNeeded) within \(request.timeoutMilliseconds) ms); it was applied on the primary")
            }
        }
    }

    func psync(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard state.replicaFeed == nil else { reply.error("ERR PSYNC on a connection that already replicates"); return }
        guard state.queued == nil else { reply.error("ERR PSYNC inside MULTI is not allowed"); return }
        guard let offset = Arguments.int64(command, 2) else { reply.error(Self.notInteger); return }
        let ip = state.replicaAnnouncedIP ?? String(state.peer.split(separator: ":").dropLast().joined(separator: ":"))
        let feed = replication.psync(replicationID: command.string(1), offset: offset, listeningPort: state.replicaListeningPort ?? 0,
                                     ip: ip, reply: &reply)
        state.replicaFeed = feed
    }

    func replconf(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard command.count >= 2 else { reply.ok(); return }
        let option = command.string(1).lowercased()
        switch option {
        case "ack":
            // No reply, as in Redis.
            guard command.count >= 3, let offset = Arguments.int64(command, 2), let feed = state.replicaFeed else { return }
            replication.acknowledge(feed, offset: offset)
        case "getack":
            reply.ok()
        case "listening-port":
            guard command.count == 3, let port = Arguments.int64(command, 2), (0...65535).contains(port) else {
                reply.error("ERR Invalid listening-port"); return
            }
            state.replicaListeningPort = Int(port)
            reply.ok()
        case "ip-address":
            guard command.count == 3 else { reply.error(Self.syntaxError); return }
            state.replicaAnnouncedIP = command.string(2)
            reply.ok()
        case "capa", "rdb-only", "rdb-filter-only":
            reply.ok()
        default:
            reply.error("ERR Unrecognized REPLCONF option: \(command.string(1).prefix(64))")
        }
    }

    func replicaof(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        if Arguments.matches(command, 1, "no") && Arguments.matches(command, 2, "one") {
            replication.becomePrimary()
            reply.ok()
            return
        }
        guard let port = Arguments.int64(command, 2), (1...65535).contains(port) else { reply.error("ERR Invalid master port"); return }
        let endpoint = ReplicationEndpoint(host: command.string(1), port: Int(port))
        if case .replica(let current) = replication.state.withLock({ $0.role }), current == endpoint {
            reply.simple("OK Already connected to specified master")
            return
        }
        do {
            try replication.becomeReplica(of: endpoint)
            reply.ok()
        } catch {
            reply.error("ERR \(error)")
        }
    }

    func wait(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        if replication.isReplica {
            reply.error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
            return
        }
        guard let needed = Arguments.int64(command, 1) else { reply.error(Self.notInteger); return }
        guard let timeout = Arguments.int64(command, 2) else { reply.error("ERR timeout is not an integer or out of range"); return }
        guard timeout >= 0 else { reply.error("ERR timeout is negative"); return }
        let target = state.lastWriteOffset
        let count = replication.ackedCount(target)
        if count >= needed || state.queued != nil {
            reply.integer(count)
            return
        }
        state.waitRequest = ReplicationWaitRequest(targetOffset: target, replicasNeeded: Int(clamping: needed),
                                                   timeoutMilliseconds: Int(clamping: timeout), kind: .wait)
    }
}
