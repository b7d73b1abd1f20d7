// Hash commands (what YCSB's Redis binding uses): HSET, HMSET, HGET, HMGET, HGETALL, HDEL, HLEN, HINCRBY.

import KVCore
import RESP

extension CommandExecutor {
    static let hashCommands: [CommandSpec] = [
        CommandSpec(name: "hset", arity: -4, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.hset($1, &$2, &$3, name: "hset") },
        CommandSpec(name: "hmset", arity: -4, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.hset($1, &$2, &$3, name: "hmset") },
        CommandSpec(name: "hget", arity: 3, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.hmget($1, &$2, &$3, single: true) },
        CommandSpec(name: "hmget", arity: -3, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.hmget($1, &$2, &$3, single: false) },
        CommandSpec(name: "hgetall", arity: 2, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1) { $0.hgetall($1, &$2, &$3) },
        CommandSpec(name: "hdel", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.hdel($1, &$2, &$3) },
        CommandSpec(name: "hincrby", arity: 4, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.hincrby($1, &$2, &$3) },
        CommandSpec(name: "hlen", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.hlen($1, &$2, &$3) },
    ]

    /// HSET (replies the number of new fields) and HMSET (replies OK).
    func hset(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, name: String) {
        guard command.count % 2 == 0 else { reply.error("ERR wrong number of arguments for '\(name)' command"); return }
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    var pairs: [(field: [UInt8], value: [UInt8])] = []
                    var expiresAt: Int64? = nil
                    if let (h, record) = try readCopy(key, &state) {
                        guard h.kind == .hash else { reply.error(Self.wrongType); return }
                        pairs = record.withUnsafeBytes { HashPayload.decode($0.payload(h)) }
                        expiresAt = h.expiresAt
                    }
                    var added = 0
                    if pairs.isEmpty {
                        // A new hash (YCSB's insert): no lookups, but a field given twice keeps its last value.
                        var index: [[UInt8]: Int] = [:]
                        for i in stride(from: 2, to: command.count, by: 2) {
                            let field = command.argument(i), value = command.argument(i + 1)
                            if let at = index[field] { pairs[at].value = value } else {
                                index[field] = pairs.count
                                pairs.append((field, value))
                                added += 1
                            }
                        }
                    } else {
                        for i in stride(from: 2, to: command.count, by: 2) {
                            let field = command.argument(i), value = command.argument(i + 1)
                            if let at = pairs.firstIndex(where: { $0.field == field }) { pairs[at].value = value } else {
                                pairs.append((field, value))
                                added += 1
                            }
                        }
                    }
                    try writeRecord(key, kind: .hash, expiresAt: expiresAt, &state) { HashPayload.encode(pairs, into: &$0) }
                    if name == "hmset" { reply.ok() } else { reply.integer(added) }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func hmget(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, single: Bool) {
        do {
            let ok: Bool? = try command.storage.withBytes { (all) throws(EngineError) in
                try read(UnsafeRawBufferPointer(rebasing: all[command.ranges[1]]), &state) { h, record in
                    guard h.kind == .hash else { return false }
                    let payload = record.payload(h)
                    if !single { reply.arrayHeader(command.count - 2) }
                    for i in 2..<command.count {
                        let wanted = UnsafeRawBufferPointer(rebasing: all[command.ranges[i]])
                        var found = false
                        HashPayload.forEach(payload) { field, value in
                            guard field.elementsEqual(wanted) else { return true }
                            reply.bulk(value)
                            found = true
                            return false
                        }
                        if !found { reply.null() }
                    }
                    return true
                }
            }
            switch ok {
            case nil:
                state.pendingMisses += 1
                if single { reply.null() } else {
                    reply.arrayHeader(command.count - 2)
                    for _ in 2..<command.count { reply.null() }
                }
            case false?: reply.error(Self.wrongType)
            case true?: state.pendingHits += 1
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func hgetall(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let ok: Bool? = try command.storage.withBytes { (all) throws(EngineError) in
                try read(UnsafeRawBufferPointer(rebasing: all[command.ranges[1]]), &state) { h, record in
                    guard h.kind == .hash else { return false }
                    let payload = record.payload(h)
                    reply.mapHeader(HashPayload.count(payload))
                    HashPayload.forEach(payload) { field, value in
                        reply.bulk(field)
                        reply.bulk(value)
                        return true
                    }
                    return true
                }
            }
            switch ok {
            case nil: state.pendingMisses += 1; reply.mapHeader(0)
            case false?: reply.error(Self.wrongType)
            case true?: state.pendingHits += 1
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func hdel(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    guard let (h, record) = try readCopy(key, &state) else { reply.integer(0); return }
                    guard h.kind == .hash else { reply.error(Self.wrongType); return }
                    var pairs = record.withUnsafeBytes { HashPayload.decode($0.payload(h)) }
                    var removed = 0
                    for i in 2..<command.count {
                        let field = command.argument(i)
                        if let at = pairs.firstIndex(where: { $0.field == field }) {
                            pairs.remove(at: at)
                            removed += 1
                        }
                    }
                    if pairs.isEmpty {
                        try removeRecord(key, header: h, &state)
                    } else if removed > 0 {
                        try writeRecord(key, kind: .hash, expiresAt: h.expiresAt, &state) { HashPayload.encode(pairs, into: &$0) }
                    }
                    reply.integer(removed)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func hlen(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let n: Int?? = try command.storage.withBytes { (all) throws(EngineError) in
                try read(UnsafeRawBufferPointer(rebasing: all[command.ranges[1]]), &state) { h, record in
                    h.kind == .hash ? HashPayload.count(record.payload(h)) : nil
                }
            }
            switch n {
            case nil: reply.integer(0)
            case .some(nil): reply.error(Self.wrongType)
            case .some(let count?): reply.integer(count)
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func hincrby(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard let delta = Arguments.int64(command, 3) else { reply.error(Self.notInteger); return }
        let field = command.argument(2)
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    var pairs: [(field: [UInt8], value: [UInt8])] = []
                    var expiresAt: Int64? = nil
                    if let (h, record) = try readCopy(key, &state) {
                        guard h.kind == .hash else { reply.error(Self.wrongType); return }
                        pairs = record.withUnsafeBytes { HashPayload.decode($0.payload(h)) }
                        expiresAt = h.expiresAt
                    }
                    let at = pairs.firstIndex { $0.field == field }
                    var current: Int64 = 0
                    if let at {
                        guard let n = pairs[at].value.withUnsafeBytes({ Arguments.int64($0) }) else { reply.error("ERR hash value is not an integer"); return }
                        current = n
                    }
                    let (sum, overflow) = current.addingReportingOverflow(delta)
                    guard !overflow else { reply.error("ERR increment or decrement would overflow"); return }
                    var digits: [UInt8] = []
                    RESPWriter.decimal(sum, &digits)
                    if let at { pairs[at].value = digits } else { pairs.append((field, digits)) }
                    try writeRecord(key, kind: .hash, expiresAt: expiresAt, &state) { HashPayload.encode(pairs, into: &$0) }
                    reply.integer(sum)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }
}
