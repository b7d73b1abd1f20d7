// Keyspace commands: DEL, UNLINK, EXISTS, TYPE, TTL, PTTL, SCAN, KEYS, RENAME, DBSIZE, FLUSHALL, FLUSHDB.

import KVCore
import RESP
import Synchronization

/// SCAN cursors: an integer handed to the client, mapped to the engine key to resume from.
/// Bounded: the oldest cursors are forgotten (a forgotten cursor gets "ERR invalid cursor").
final class ScanCursorTable: Sendable {
    private struct Table {
        var next: UInt64 = 1
        var positions: [UInt64: [UInt8]] = [:]
        var order: [UInt64] = []
    }
    private let table = Mutex(Table())
    static let capacity = 4096

    func remember(_ position: [UInt8]) -> UInt64 {
        table.withLock { t in
            let id = t.next
            t.next += 1
            t.positions[id] = position
            t.order.append(id)
            if t.order.count > Self.capacity {
                let evicted = t.order.removeFirst()
                t.positions[evicted] = nil
            }
            return id
        }
    }

    func position(of cursor: UInt64) -> [UInt8]? { table.withLock { $0.positions[cursor] } }
}

extension CommandExecutor {
    static let keyCommands: [CommandSpec] = [
        CommandSpec(name: "del", arity: -2, flags: ["write"], firstKey: 1, lastKey: -1, step: 1) { $0.del($1, &$2, &$3) },
        CommandSpec(name: "unlink", arity: -2, flags: ["write", "fast"], firstKey: 1, lastKey: -1, step: 1) { $0.del($1, &$2, &$3) },
        CommandSpec(name: "exists", arity: -2, flags: ["readonly", "fast"], firstKey: 1, lastKey: -1, step: 1) { $0.exists($1, &$2, &$3) },
        CommandSpec(name: "type", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.type($1, &$2, &$3) },
        CommandSpec(name: "ttl", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.ttl($1, &$2, &$3, milliseconds: false) },
        CommandSpec(name: "pttl", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.ttl($1, &$2, &$3, milliseconds: true) },
        CommandSpec(name: "scan", arity: -2, flags: ["readonly"], firstKey: 0, lastKey: 0, step: 0) { $0.scan($1, &$2, &$3) },
        CommandSpec(name: "dbsize", arity: 1, flags: ["readonly", "fast"], firstKey: 0, lastKey: 0, step: 0) { e, _, _, r in r.integer(e.keyspace.heldKeyCount) },
        CommandSpec(name: "flushall", arity: -1, flags: ["write"], firstKey: 0, lastKey: 0, step: 0, exclusive: true) { $0.flushAll($1, &$2, &$3) },
        CommandSpec(name: "keys", arity: 2, flags: ["readonly"], firstKey: 0, lastKey: 0, step: 0) { $0.keys($1, &$2, &$3) },
        CommandSpec(name: "rename", arity: 3, flags: ["write"], firstKey: 1, lastKey: 2, step: 1) { $0.rename($1, &$2, &$3) },
        CommandSpec(name: "flushdb", arity: -1, flags: ["write"], firstKey: 0, lastKey: 0, step: 0, exclusive: true) { $0.flushAll($1, &$2, &$3) },
    ]

    /// DEL and UNLINK: every key's stripe taken first (in stripe order), so the deletion is atomic.
    func del(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let removed = try withKeyLocks(command, 1..<command.count, &state) { (state) throws(EngineError) -> Int in
                var removed = 0
                for i in 1..<command.count {
                    if try command.withArgument(i, { (key) throws(EngineError) in try deleteKey(key, &state) }) { removed += 1 }
                }
                return removed
            }
            reply.integer(removed)
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// EXISTS k1 k2 ...: a key named twice counts twice, as in Redis.
    func exists(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let found = try withKeyLocks(command, 1..<command.count, &state) { (state) throws(EngineError) -> Int in
                var found = 0
                for i in 1..<command.count {
                    if try command.withArgument(i, { (key) throws(EngineError) in try read(key, &state) { _, _ in true } }) != nil { found += 1 }
                }
                return found
            }
            reply.integer(found)
        } catch {
            engineFailed(error, &reply)
        }
    }

    func type(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let kind = try command.withArgument(1) { (key) throws(EngineError) in try read(key, &state) { h, _ in h.kind } }
            reply.simple(kind?.typeName ?? "none")
        } catch {
            engineFailed(error, &reply)
        }
    }

    func ttl(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, milliseconds: Bool) {
        do {
            let deadline = try command.withArgument(1) { (key) throws(EngineError) in try read(key, &state) { h, _ in h.expiresAt } }
            switch deadline {
            case nil: reply.integer(-2)
            case .some(nil): reply.integer(-1)
            case .some(let d?):
                let remaining = Swift.max(0, d - clock.millisecondsSinceEpoch())
                reply.integer(milliseconds ? remaining : (remaining + 500) / 1000)
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func flushAll(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        if command.count > 2 || (command.count == 2 && !Arguments.matches(command, 1, "async") && !Arguments.matches(command, 1, "sync")) {
            reply.error(Self.syntaxError)
            return
        }
        do {
            try keyspace.heldFlushAll()
            reply.ok()
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type], over the main records in key order.
    func scan(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard let cursor = UInt64(command.string(1)) else { reply.error("ERR invalid cursor"); return }
        var pattern: [UInt8]? = nil
        var count = 10
        var typeFilter: String? = nil
        var i = 2
        while i < command.count {
            guard i + 1 < command.count else { reply.error(Self.syntaxError); return }
            if Arguments.matches(command, i, "match") { pattern = command.argument(i + 1) }
            else if Arguments.matches(command, i, "count") {
                guard let n = Arguments.int64(command, i + 1) else { reply.error(Self.notInteger); return }
                guard n >= 1 else { reply.error(Self.syntaxError); return }
                count = Int(Swift.min(n, 1 << 20))
            } else if Arguments.matches(command, i, "type") { typeFilter = command.string(i + 1).lowercased() }
            else { reply.error(Self.syntaxError); return }
            i += 2
        }
        guard requireOrdered(&reply, "SCAN") else { return }
        let start: [UInt8]
        if cursor == 0 { start = [Keyspace.mainTag] } else {
            guard let p = cursors.position(of: cursor) else { reply.error("ERR invalid cursor"); return }
            start = p
        }
        let now = clock.millisecondsSinceEpoch()
        var keys: [[UInt8]] = []
        var visited = 0
        var last: [UInt8]? = nil
        var ended = true
        do {
            try start.withBytes { (s) throws(EngineError) in
                try keyspace.withEngine { (e) throws(EngineError) in
                    try e.scan(from: s, limit: Int.max) { k, v in
                        guard k.first == Keyspace.mainTag else { return false }
                        if visited == count { ended = false; return false }
                        visited += 1
                        last = Array(k)
                        guard let h = Keyspace.header(of: v), !h.isExpired(now: now) else { return true }
                        if let typeFilter, h.kind.typeName != typeFilter { return true }
                        let userKey = Array(k[1...])
                        if let pattern, !GlobPattern.matches(pattern, userKey) { return true }
                        keys.append(userKey)
                        return true
                    }
                }
            }
        } catch {
            engineFailed(error, &reply)
            return
        }
        var next: UInt64 = 0
        if !ended, let last { next = cursors.remember(last + [0]) }
        reply.arrayHeader(2)
        reply.bulk(String(next))
        reply.arrayHeader(keys.count)
        for k in keys { reply.bulk(k) }
    }

    /// KEYS pattern: every live key matching the glob, in key order (ordered engines).
    func keys(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard requireOrdered(&reply, "KEYS") else { return }
        let pattern = command.argument(1)
        let now = clock.millisecondsSinceEpoch()
        var keys: [[UInt8]] = []
        do {
            try [Keyspace.mainTag].withBytes { (s) throws(EngineError) in
                try keyspace.withEngine { (e) throws(EngineError) in
                    try e.scan(from: s, limit: Int.max) { k, v in
                        guard k.first == Keyspace.mainTag else { return false }
                        guard let h = Keyspace.header(of: v), !h.isExpired(now: now) else { return true }
                        let userKey = Array(k[1...])
                        if pattern == [UInt8(ascii: "*")] || GlobPattern.matches(pattern, userKey) { keys.append(userKey) }
                        return true
                    }
                }
            }
        } catch {
            engineFailed(error, &reply)
            return
        }
        reply.arrayHeader(keys.count)
        for k in keys { reply.bulk(k) }
    }

    /// RENAME src dst: moves the value and its deadline; a sorted set's member records move too.
    func rename(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        let source = command.argument(1), destination = command.argument(2)
        do {
            try withKeyLocks(command, 1...2, &state) { (state) throws(EngineError) in
                try source.withBytes { (src) throws(EngineError) in
                    try destination.withBytes { (dst) throws(EngineError) in
                        guard let (header, record) = try readCopy(src, &state) else { reply.error("ERR no such key"); return }
                        if source == destination { reply.ok(); return }
                        if let old = try rawHeader(dst, &state) { try removeRecord(dst, header: old, &state) }
                        if header.kind == .sortedSet {
                            let members = try sortedSetMembers(src, &state)
                            var batch = WriteBatch()
                            for (member, score) in members {
                                try member.withBytes { (m) throws(EngineError) in
                                    Self.memberKey(src, m, into: &state.auxScratch)
                                    batch.delete(state.auxScratch)
                                    Self.indexKey(src, score, m, into: &state.auxScratch)
                                    batch.delete(state.auxScratch)
                                    Self.memberKey(dst, m, into: &state.auxScratch)
                                    withUnsafeBytes(of: score.bitPattern.littleEndian) { batch.put(state.auxScratch, Array($0)) }
                                    Self.indexKey(dst, score, m, into: &state.auxScratch)
                                    batch.put(state.auxScratch, [UInt8]())
                                }
                            }
                            if !batch.isEmpty { try keyspace.withEngine { (e) throws(EngineError) in try e.write(batch, options: .default) } }
                        }
                        try rewriteDeadline(dst, header, record, header.expiresAt, &state)
                        try removeRecord(src, header: nil, &state)
                        reply.ok()
                    }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }
}
