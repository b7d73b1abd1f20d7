// Sorted sets on ordered engines (YCSB's scan index): ZADD, ZRANGEBYSCORE, ZREM, ZCARD, ZSCORE, ZPOPMIN, ZPOPMAX.

import KVCore
import RESP

extension CommandExecutor {
    static let sortedSetCommands: [CommandSpec] = [
        CommandSpec(name: "zadd", arity: -4, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.zadd($1, &$2, &$3) },
        CommandSpec(name: "zrangebyscore", arity: -4, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1) { $0.zrangebyscore($1, &$2, &$3) },
        CommandSpec(name: "zrem", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.zrem($1, &$2, &$3) },
        CommandSpec(name: "zcard", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.zcard($1, &$2, &$3) },
        CommandSpec(name: "zpopmin", arity: -2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.zpop($1, &$2, &$3, minimum: true) },
        CommandSpec(name: "zpopmax", arity: -2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.zpop($1, &$2, &$3, minimum: false) },
        CommandSpec(name: "zscore", arity: 3, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.zscore($1, &$2, &$3) },
    ]

    /// False (after replying an error) when the engine cannot hold sorted sets.
    func requireOrdered(_ reply: inout Reply, _ what: String) -> Bool {
        guard keyspace.ordered else {
            reply.error("ERR \(what) needs an engine with ordered scans; engine '\(keyspace.engineName)' has none (use skiplist)")
            return false
        }
        return true
    }

    /// The cardinality of the sorted set `key`: nil if absent, -1 if the key holds another type.
    func sortedSetCardinality(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) -> (Int, Int64?)? {
        try read(key, &state) { h, record -> (Int, Int64?) in
            guard h.kind == .sortedSet else { return (-1, nil) }
            return (Varint.read(record.payload(h), at: 0).map { Int($0.value) } ?? 0, h.expiresAt)
        }
    }

    /// `'m' | len | key | member` into `out`.
    static func memberKey(_ key: UnsafeRawBufferPointer, _ member: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        Keyspace.auxiliaryPrefix(Keyspace.memberTag, key, into: &out)
        out.append(contentsOf: member)
    }

    /// `'s' | len | key | sortable score | member` into `out`.
    static func indexKey(_ key: UnsafeRawBufferPointer, _ score: Double, _ member: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        Keyspace.auxiliaryPrefix(Keyspace.indexTag, key, into: &out)
        Keyspace.appendBigEndian(Keyspace.sortableBytes(score), to: &out)
        out.append(contentsOf: member)
    }

    /// The stored score of `member`, or nil.
    func memberScore(_ key: UnsafeRawBufferPointer, _ member: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) -> Double? {
        Self.memberKey(key, member, into: &state.auxScratch)
        return try state.auxScratch.withBytes { (k) throws(EngineError) in
            try keyspace.withEngine { (e) throws(EngineError) in
                try e.get(k) { v -> Double in
                    var bits: UInt64 = 0
                    withUnsafeMutableBytes(of: &bits) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: v[0..<8])) }
                    return Double(bitPattern: UInt64(littleEndian: bits))
                }
            }
        }
    }

    /// Every (member, score) of the sorted set `key`, in member order.
    func sortedSetMembers(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) -> [([UInt8], Double)] {
        Keyspace.auxiliaryPrefix(Keyspace.memberTag, key, into: &state.auxScratch)
        let prefix = state.auxScratch
        var members: [([UInt8], Double)] = []
        try prefix.withBytes { (p) throws(EngineError) in
            try keyspace.withEngine { (e) throws(EngineError) in
                try e.scan(from: p, limit: Int.max) { k, v in
                    guard k.count >= p.count, UnsafeRawBufferPointer(rebasing: k[0..<p.count]).elementsEqual(p) else { return false }
                    var bits: UInt64 = 0
                    withUnsafeMutableBytes(of: &bits) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: v[0..<8])) }
                    members.append((Array(k[p.count...]), Double(bitPattern: UInt64(littleEndian: bits))))
                    return true
                }
            }
        }
        return members
    }

    /// Removes every member record of `key` (DEL of a sorted set, or an overwrite). Caller holds the lock.
    func removeSortedSetMembers(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) {
        let members = try sortedSetMembers(key, &state)
        var batch = WriteBatch()
        for (member, score) in members {
            try member.withBytes { (m) throws(EngineError) in
                Self.memberKey(key, m, into: &state.auxScratch)
                batch.delete(state.auxScratch)
                Self.indexKey(key, score, m, into: &state.auxScratch)
                batch.delete(state.auxScratch)
            }
        }
        if !batch.isEmpty { try keyspace.withEngine { (e) throws(EngineError) in try e.write(batch, options: .default) } }
        keyspace.auxiliaryRecords.subtract(members.count * 2, ordering: .relaxed)
    }

    func zadd(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard requireOrdered(&reply, "ZADD") else { return }
        var nx = false, xx = false, gt = false, lt = false, ch = false, incr = false
        var i = 2
        while i < command.count {
            if Arguments.matches(command, i, "nx") { nx = true }
            else if Arguments.matches(command, i, "xx") { xx = true }
            else if Arguments.matches(command, i, "gt") { gt = true }
            else if Arguments.matches(command, i, "lt") { lt = true }
            else if Arguments.matches(command, i, "ch") { ch = true }
            else if Arguments.matches(command, i, "incr") { incr = true }
            else { break }
            i += 1
        }
        let pairCount = (command.count - i) / 2
        guard (command.count - i) % 2 == 0, pairCount > 0 else { reply.error(Self.syntaxError); return }
        if nx && xx { reply.error("ERR XX and NX options at the same time are not compatible"); return }
        if (gt && nx) || (lt && nx) || (gt && lt) { reply.error("ERR GT, LT, and/or NX options at the same time are not compatible"); return }
        if incr && pairCount > 1 { reply.error("ERR INCR option supports a single increment-element pair"); return }
        var scores: [Double] = []
        for p in 0..<pairCount {
            guard let s = Arguments.double(command.string(i + 2 * p)) else { reply.error("ERR value is not a valid float"); return }
            scores.append(s)
        }
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    let existing = try sortedSetCardinality(key, &state)
                    if let (n, _) = existing, n < 0 { reply.error(Self.wrongType); return }
                    var cardinality = existing?.0 ?? 0
                    var added = 0, changed = 0
                    var incrResult: Double? = nil
                    for p in 0..<pairCount {
                        let member = UnsafeRawBufferPointer(rebasing: all[command.ranges[i + 2 * p + 1]])
                        var score = scores[p]
                        let old = try memberScore(key, member, &state)
                        if incr {
                            score = (old ?? 0) + score
                            guard !score.isNaN else { reply.error("ERR resulting score is not a number (NaN)"); return }
                        }
                        if let old {
                            if nx || (gt && score <= old) || (lt && score >= old) { continue }
                            if old == score { incrResult = score; continue }
                        } else if xx {
                            continue
                        }
                        var batch = WriteBatch()
                        if let old {
                            Self.indexKey(key, old, member, into: &state.auxScratch)
                            batch.delete(state.auxScratch)
                            changed += 1
                        } else {
                            added += 1
                            cardinality += 1
                        }
                        Self.indexKey(key, score, member, into: &state.auxScratch)
                        batch.put(state.auxScratch, [UInt8]())
                        Self.memberKey(key, member, into: &state.auxScratch)
                        withUnsafeBytes(of: score.bitPattern.littleEndian) { batch.put(state.auxScratch, Array($0)) }
                        try keyspace.withEngine { (e) throws(EngineError) in try e.write(batch, options: .default) }
                        keyspace.touch(key)
                        incrResult = score
                    }
                    keyspace.auxiliaryRecords.add(added * 2, ordering: .relaxed)
                    if added > 0 || existing == nil {
                        if cardinality > 0 {
                            try writeRecord(key, kind: .sortedSet, expiresAt: existing?.1, &state) { Varint.append(UInt64(cardinality), to: &$0) }
                        }
                    }
                    if incr {
                        if let incrResult { reply.double(incrResult) } else { reply.null() }
                    } else {
                        reply.integer(ch ? added + changed : added)
                    }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// A ZRANGEBYSCORE bound: "(" makes it exclusive; -inf, +inf allowed.
    static func scoreBound(_ text: String) -> (Double, exclusive: Bool)? {
        if text.hasPrefix("(") {
            guard let d = Arguments.double(String(text.dropFirst())) else { return nil }
            return (d, true)
        }
        guard let d = Arguments.double(text) else { return nil }
        return (d, false)
    }

    func zrangebyscore(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard requireOrdered(&reply, "ZRANGEBYSCORE") else { return }
        guard let (min, minExclusive) = Self.scoreBound(command.string(2)),
              let (max, maxExclusive) = Self.scoreBound(command.string(3)) else {
            reply.error("ERR min or max is not a float")
            return
        }
        var withScores = false
        var offset = 0, limit = -1
        var i = 4
        while i < command.count {
            if Arguments.matches(command, i, "withscores") {
                withScores = true
                i += 1
            } else if Arguments.matches(command, i, "limit") && i + 2 < command.count {
                guard let o = Arguments.int64(command, i + 1), let c = Arguments.int64(command, i + 2) else {
                    reply.error(Self.notInteger)
                    return
                }
                offset = Int(o)
                limit = Int(c)
                i += 3
            } else {
                reply.error(Self.syntaxError)
                return
            }
        }
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                guard let (n, _) = try sortedSetCardinality(key, &state) else { reply.arrayHeader(0); return }
                guard n >= 0 else { reply.error(Self.wrongType); return }
                if offset < 0 || limit == 0 { reply.arrayHeader(0); return }
                Keyspace.auxiliaryPrefix(Keyspace.indexTag, key, into: &state.auxScratch)
                let prefixLength = state.auxScratch.count
                Keyspace.appendBigEndian(Keyspace.sortableBytes(min), to: &state.auxScratch)
                let start = state.auxScratch
                var results: [([UInt8], Double)] = []
                var skipped = 0
                try start.withBytes { (s) throws(EngineError) in
                    try keyspace.withEngine { (e) throws(EngineError) in
                        try e.scan(from: s, limit: Int.max) { k, _ in
                            guard k.count >= prefixLength + 8,
                                  UnsafeRawBufferPointer(rebasing: k[0..<prefixLength]).elementsEqual(UnsafeRawBufferPointer(rebasing: s[0..<prefixLength])) else { return false }
                            let score = Keyspace.score(fromSortable: Keyspace.readBigEndian(k, at: prefixLength))
                            if score < min || (minExclusive && score == min) { return true }
                            if score > max || (maxExclusive && score == max) { return false }
                            if skipped < offset { skipped += 1; return true }
                            results.append((Array(k[(prefixLength + 8)...]), score))
                            return limit < 0 || results.count < limit
                        }
                    }
                }
                if withScores && reply.version == .resp3 {
                    reply.arrayHeader(results.count)
                    for (member, score) in results { reply.arrayHeader(2); reply.bulk(member); reply.double(score) }
                } else {
                    reply.arrayHeader(withScores ? results.count * 2 : results.count)
                    for (member, score) in results {
                        reply.bulk(member)
                        if withScores { reply.bulk(RESPWriter.formatDouble(score)) }
                    }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func zrem(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard requireOrdered(&reply, "ZREM") else { return }
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    guard let (n, expiresAt) = try sortedSetCardinality(key, &state) else { reply.integer(0); return }
                    guard n >= 0 else { reply.error(Self.wrongType); return }
                    var removed = 0
                    for i in 2..<command.count {
                        let member = UnsafeRawBufferPointer(rebasing: all[command.ranges[i]])
                        guard let score = try memberScore(key, member, &state) else { continue }
                        var batch = WriteBatch()
                        Self.memberKey(key, member, into: &state.auxScratch)
                        batch.delete(state.auxScratch)
                        Self.indexKey(key, score, member, into: &state.auxScratch)
                        batch.delete(state.auxScratch)
                        try keyspace.withEngine { (e) throws(EngineError) in try e.write(batch, options: .default) }
                        removed += 1
                    }
                    keyspace.auxiliaryRecords.subtract(removed * 2, ordering: .relaxed)
                    let remaining = n - removed
                    if remaining <= 0 {
                        try removeRecord(key, header: nil, &state)
                    } else if removed > 0 {
                        try writeRecord(key, kind: .sortedSet, expiresAt: expiresAt, &state) { Varint.append(UInt64(remaining), to: &$0) }
                    }
                    reply.integer(removed)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func zcard(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let c = try command.withArgument(1) { (key) throws(EngineError) in try sortedSetCardinality(key, &state) }
            guard let (n, _) = c else { reply.integer(0); return }
            if n < 0 { reply.error(Self.wrongType) } else { reply.integer(n) }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func zscore(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                guard let (n, _) = try sortedSetCardinality(key, &state) else { reply.null(); return }
                guard n >= 0 else { reply.error(Self.wrongType); return }
                if let score = try memberScore(key, UnsafeRawBufferPointer(rebasing: all[command.ranges[2]]), &state) {
                    reply.double(score)
                } else {
                    reply.null()
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// ZPOPMIN / ZPOPMAX key [count]: the lowest (highest) members with their scores, removed.
    func zpop(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, minimum: Bool) {
        guard requireOrdered(&reply, minimum ? "ZPOPMIN" : "ZPOPMAX") else { return }
        guard command.count <= 3 else { reply.error(Self.syntaxError); return }
        let count = popCount(command, &reply)
        if count == -1 { return }
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    guard let (n, expiresAt) = try sortedSetCardinality(key, &state) else { reply.arrayHeader(0); return }
                    guard n >= 0 else { reply.error(Self.wrongType); return }
                    let wanted = Swift.min(count ?? 1, n)
                    Keyspace.auxiliaryPrefix(Keyspace.indexTag, key, into: &state.auxScratch)
                    let prefix = state.auxScratch
                    var popped: [(member: [UInt8], score: Double)] = []
                    try prefix.withBytes { (p) throws(EngineError) in
                        try keyspace.withEngine { (e) throws(EngineError) in
                            try e.scan(from: p, limit: Int.max) { k, _ in
                                guard k.count >= p.count + 8, UnsafeRawBufferPointer(rebasing: k[0..<p.count]).elementsEqual(p) else { return false }
                                let score = Keyspace.score(fromSortable: Keyspace.readBigEndian(k, at: p.count))
                                popped.append((Array(k[(p.count + 8)...]), score))
                                // The lowest are first in key order; the highest need the whole walk.
                                if !minimum && popped.count > wanted { popped.removeFirst() }
                                return !minimum || popped.count < wanted
                            }
                        }
                    }
                    if !minimum { popped.reverse() }
                    var batch = WriteBatch()
                    for (member, score) in popped {
                        member.withUnsafeBytes { m in
                            Self.memberKey(key, m, into: &state.auxScratch)
                            batch.delete(state.auxScratch)
                            Self.indexKey(key, score, m, into: &state.auxScratch)
                            batch.delete(state.auxScratch)
                        }
                    }
                    if !batch.isEmpty {
                        try keyspace.withEngine { (e) throws(EngineError) in try e.write(batch, options: .default) }
                        keyspace.auxiliaryRecords.subtract(popped.count * 2, ordering: .relaxed)
                        if n - popped.count <= 0 {
                            try removeRecord(key, header: nil, &state)
                        } else {
                            try writeRecord(key, kind: .sortedSet, expiresAt: expiresAt, &state) { Varint.append(UInt64(n - popped.count), to: &$0) }
                        }
                    }
                    if count != nil && reply.version == .resp3 {
                        reply.arrayHeader(popped.count)
                        for (member, score) in popped { reply.arrayHeader(2); reply.bulk(member); reply.double(score) }
                    } else {
                        reply.arrayHeader(popped.count * 2)
                        for (member, score) in popped { reply.bulk(member); reply.double(score) }
                    }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }
}
