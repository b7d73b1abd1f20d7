// Lists and sets as redis-benchmark's default tests use them: LPUSH RPUSH LPOP RPOP LLEN LRANGE, SADD SREM SPOP SCARD SISMEMBER SMEMBERS.

import KVCore
import RESP

/// A set's payload: varint count, then count × (varint length | bytes).
enum ElementsPayload {
    /// The byte ranges of the elements (relative to `payload`), in order; nil if malformed.
    static func ranges(_ payload: UnsafeRawBufferPointer, limit: Int = .max) -> (count: Int, ranges: [Range<Int>])? {
        guard let (count, a) = Varint.read(payload, at: 0) else { return nil }
        var offset = a
        var out: [Range<Int>] = []
        out.reserveCapacity(Swift.min(Int(count), limit, 4096))
        for _ in 0..<count where out.count < limit {
            guard let (length, b) = Varint.read(payload, at: offset), Int(length) <= payload.count - offset - b else { return nil }
            out.append((offset + b)..<(offset + b + Int(length)))
            offset += b + Int(length)
        }
        return (Int(count), out)
    }

    /// Where the elements start (after the count varint).
    static func bodyOffset(_ payload: UnsafeRawBufferPointer) -> Int { Varint.read(payload, at: 0)?.length ?? payload.count }

    static func appendElement(_ element: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        Varint.append(UInt64(element.count), to: &out)
        out.append(contentsOf: element)
    }
}

/// A list's payload: varint count, then count × (varint length | element | length as u32 LE).
/// The trailing length lets RPOP find the last element without walking the list, so a push or
/// a pop parses O(1) elements (and copies the rest of the record once).
enum ListPayload {
    static func appendElement(_ element: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        Varint.append(UInt64(element.count), to: &out)
        out.append(contentsOf: element)
        withUnsafeBytes(of: UInt32(element.count).littleEndian) { out.append(contentsOf: $0) }
    }

    /// The element whose header starts at `offset`: its bytes and where the next one starts.
    static func next(_ p: UnsafeRawBufferPointer, at offset: Int) -> (bytes: Range<Int>, next: Int)? {
        guard let (length, n) = Varint.read(p, at: offset), Int(length) <= p.count - offset - n - 4 else { return nil }
        let start = offset + n
        return (start..<(start + Int(length)), start + Int(length) + 4)
    }

    /// The element that ends (trailer included) at `end`: its bytes and where its header starts.
    static func previous(_ p: UnsafeRawBufferPointer, endingAt end: Int) -> (bytes: Range<Int>, start: Int)? {
        guard end >= 5, end <= p.count else { return nil }
        var length: UInt32 = 0
        withUnsafeMutableBytes(of: &length) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: p[(end - 4)..<end])) }
        let count = Int(UInt32(littleEndian: length))
        let bytesEnd = end - 4
        guard count <= bytesEnd else { return nil }
        let start = bytesEnd - count - Varint.encodedLength(UInt64(count))
        guard start >= 0 else { return nil }
        return ((bytesEnd - count)..<bytesEnd, start)
    }

    static func count(_ p: UnsafeRawBufferPointer) -> Int { Varint.read(p, at: 0).map { Int($0.value) } ?? 0 }
}

extension CommandExecutor {
    static let listAndSetCommands: [CommandSpec] = [
        CommandSpec(name: "lpush", arity: -3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.push($1, &$2, &$3, left: true) },
        CommandSpec(name: "rpush", arity: -3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.push($1, &$2, &$3, left: false) },
        CommandSpec(name: "lpop", arity: -2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.pop($1, &$2, &$3, left: true) },
        CommandSpec(name: "rpop", arity: -2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.pop($1, &$2, &$3, left: false) },
        CommandSpec(name: "llen", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.cardinality($1, &$2, &$3, kind: .list) },
        CommandSpec(name: "lrange", arity: 4, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1) { $0.lrange($1, &$2, &$3) },
        CommandSpec(name: "sadd", arity: -3, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.sadd($1, &$2, &$3) },
        CommandSpec(name: "srem", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.srem($1, &$2, &$3) },
        CommandSpec(name: "spop", arity: -2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.spop($1, &$2, &$3) },
        CommandSpec(name: "scard", arity: 2, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.cardinality($1, &$2, &$3, kind: .set) },
        CommandSpec(name: "sismember", arity: 3, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.sismember($1, &$2, &$3) },
        CommandSpec(name: "smembers", arity: 2, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1) { $0.smembers($1, &$2, &$3) },
    ]

    static let mustBePositive = "ERR value is out of range, must be positive"

    /// LPUSH / RPUSH key element...: the new length.
    func push(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, left: Bool) {
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    let old = try readCopy(key, &state)
                    if let (h, _) = old, h.kind != .list { reply.error(Self.wrongType); return }
                    let pushed = command.count - 2
                    var total = pushed
                    try old.withPayload { (payload) throws(EngineError) in
                        let oldCount = payload.flatMap { Varint.read($0, at: 0).map { Int($0.value) } } ?? 0
                        total += oldCount
                        try writeRecord(key, kind: .list, expiresAt: old?.0.expiresAt, &state) { out in
                            Varint.append(UInt64(total), to: &out)
                            let oldBody = payload.map { UnsafeRawBufferPointer(rebasing: $0[ElementsPayload.bodyOffset($0)...]) }
                            if left {
                                // LPUSH a b c leaves c b a at the head.
                                for i in stride(from: command.count - 1, through: 2, by: -1) {
                                    ListPayload.appendElement(UnsafeRawBufferPointer(rebasing: all[command.ranges[i]]), to: &out)
                                }
                                if let oldBody { out.append(contentsOf: oldBody) }
                            } else {
                                if let oldBody { out.append(contentsOf: oldBody) }
                                for i in 2..<command.count {
                                    ListPayload.appendElement(UnsafeRawBufferPointer(rebasing: all[command.ranges[i]]), to: &out)
                                }
                            }
                        }
                    }
                    reply.integer(total)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// The optional COUNT of LPOP/RPOP/SPOP: nil when absent; replies an error and returns -1 when invalid.
    func popCount(_ command: RESPCommand, _ reply: inout Reply) -> Int? {
        guard command.count == 3 else { return nil }
        guard let n = Arguments.int64(command, 2), n >= 0 else { reply.error(Self.mustBePositive); return -1 }
        return Int(Swift.min(n, Int64(Int32.max)))
    }

    /// LPOP / RPOP key [count].
    func pop(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, left: Bool) {
        guard command.count <= 3 else { reply.error("ERR wrong number of arguments for '\(left ? "lpop" : "rpop")' command"); return }
        let count = popCount(command, &reply)
        if count == -1 { return }
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    guard let (h, record) = try readCopy(key, &state) else {
                        if count == nil { reply.null() } else { reply.nullArray() }
                        return
                    }
                    guard h.kind == .list else { reply.error(Self.wrongType); return }
                    try record.withBytes { (raw) throws(EngineError) in
                        let payload = raw.payload(h)
                        let total = ListPayload.count(payload)
                        let n = Swift.min(count ?? 1, total)
                        // Walk n elements from the popped end only.
                        var taken: [Range<Int>] = []
                        var front = ElementsPayload.bodyOffset(payload), back = payload.count
                        for _ in 0..<n {
                            if left {
                                guard let (bytes, next) = ListPayload.next(payload, at: front) else { break }
                                taken.append(bytes)
                                front = next
                            } else {
                                guard let (bytes, start) = ListPayload.previous(payload, endingAt: back) else { break }
                                taken.append(bytes)
                                back = start
                            }
                        }
                        guard taken.count == n else { reply.error("ERR corrupt list record"); return }
                        if count == nil {
                            reply.bulk(UnsafeRawBufferPointer(rebasing: payload[taken[0]]))
                        } else {
                            reply.arrayHeader(taken.count)
                            for r in taken { reply.bulk(UnsafeRawBufferPointer(rebasing: payload[r])) }
                        }
                        guard n > 0 else { return }
                        if n == total {
                            try removeRecord(key, header: h, &state)
                            return
                        }
                        // The kept elements are contiguous: one copy of their bytes.
                        try writeRecord(key, kind: .list, expiresAt: h.expiresAt, &state) { out in
                            Varint.append(UInt64(total - n), to: &out)
                            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: payload[front..<back]))
                        }
                    }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// LLEN and SCARD.
    func cardinality(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, kind: ValueKind) {
        do {
            let n: Int?? = try command.withArgument(1) { (key) throws(EngineError) in
                try read(key, &state) { h, record in
                    h.kind == kind ? (Varint.read(record.payload(h), at: 0).map { Int($0.value) } ?? 0) : nil
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

    /// LRANGE key start stop, with Redis's negative indices and clamping.
    func lrange(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard let start = Arguments.int64(command, 2), let stop = Arguments.int64(command, 3) else { reply.error(Self.notInteger); return }
        do {
            let ok: Bool? = try command.withArgument(1) { (key) throws(EngineError) in
                try read(key, &state) { h, record in
                    guard h.kind == .list else { return false }
                    let payload = record.payload(h)
                    let total = Int64(Varint.read(payload, at: 0).map { Int($0.value) } ?? 0)
                    var from = start < 0 ? total + start : start
                    var to = stop < 0 ? total + stop : stop
                    if from < 0 { from = 0 }
                    if to >= total { to = total - 1 }
                    guard from <= to, from < total else { reply.arrayHeader(0); return true }
                    var offset = ElementsPayload.bodyOffset(payload)
                    var ranges: [Range<Int>] = []
                    ranges.reserveCapacity(Int(to - from + 1))
                    for i in 0...Int(to) {
                        guard let (bytes, next) = ListPayload.next(payload, at: offset) else { break }
                        if i >= Int(from) { ranges.append(bytes) }
                        offset = next
                    }
                    reply.arrayHeader(ranges.count)
                    for r in ranges { reply.bulk(UnsafeRawBufferPointer(rebasing: payload[r])) }
                    return true
                }
            }
            switch ok {
            case nil: reply.arrayHeader(0)
            case false?: reply.error(Self.wrongType)
            case true?: break
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    // MARK: - Sets

    /// The members of a set record, copied; nil (after a WRONGTYPE reply) for another type.
    func setMembers(_ old: (RecordHeader, [UInt8])?, _ reply: inout Reply) -> [[UInt8]]? {
        guard let (h, record) = old else { return [] }
        guard h.kind == .set else { reply.error(Self.wrongType); return nil }
        return record.withUnsafeBytes { raw in
            let payload = raw.payload(h)
            return (ElementsPayload.ranges(payload)?.ranges ?? []).map { Array(payload[$0]) }
        }
    }

    /// Writes a set's members back, or removes the key when none is left. Caller holds the lock.
    func writeSet(_ key: UnsafeRawBufferPointer, _ members: [[UInt8]], expiresAt: Int64?, _ state: inout ConnectionState) throws(EngineError) {
        if members.isEmpty {
            try removeRecord(key, header: nil, &state)
            return
        }
        try writeRecord(key, kind: .set, expiresAt: expiresAt, &state) { out in
            Varint.append(UInt64(members.count), to: &out)
            for m in members { m.withUnsafeBytes { ElementsPayload.appendElement($0, to: &out) } }
        }
    }

    func sadd(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    let old = try readCopy(key, &state)
                    guard var members = setMembers(old, &reply) else { return }
                    var present = Set(members)
                    var added = 0
                    for i in 2..<command.count {
                        let m = command.argument(i)
                        if present.insert(m).inserted {
                            members.append(m)
                            added += 1
                        }
                    }
                    if added > 0 { try writeSet(key, members, expiresAt: old?.0.expiresAt, &state) }
                    reply.integer(added)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func srem(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    let old = try readCopy(key, &state)
                    guard var members = setMembers(old, &reply) else { return }
                    let doomed = Set((2..<command.count).map { command.argument($0) })
                    let before = members.count
                    members.removeAll { doomed.contains($0) }
                    if members.count != before { try writeSet(key, members, expiresAt: old?.0.expiresAt, &state) }
                    reply.integer(before - members.count)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// SPOP key [count]: random members, drawn from the executor's seeded generator.
    func spop(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard command.count <= 3 else { reply.error(Self.syntaxError); return }
        let count = popCount(command, &reply)
        if count == -1 { return }
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    let old = try readCopy(key, &state)
                    guard var members = setMembers(old, &reply) else { return }
                    guard !members.isEmpty else {
                        if count == nil { reply.null() } else { reply.setHeader(0) }
                        return
                    }
                    var popped: [[UInt8]] = []
                    random.withLock { rng in
                        for _ in 0..<Swift.min(count ?? 1, members.count) {
                            popped.append(members.remove(at: Int(rng.next() % UInt64(members.count))))
                        }
                    }
                    if count == nil { reply.bulk(popped[0]) } else {
                        reply.setHeader(popped.count)
                        for m in popped { reply.bulk(m) }
                    }
                    if !popped.isEmpty { try writeSet(key, members, expiresAt: old?.0.expiresAt, &state) }
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func sismember(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        let wanted = command.argument(2)
        do {
            let found: Bool?? = try command.withArgument(1) { (key) throws(EngineError) in
                try read(key, &state) { h, record -> Bool? in
                    guard h.kind == .set else { return nil }
                    let payload = record.payload(h)
                    return (ElementsPayload.ranges(payload)?.ranges ?? []).contains { payload[$0].elementsEqual(wanted) }
                }
            }
            switch found {
            case nil: reply.integer(0)
            case .some(nil): reply.error(Self.wrongType)
            case .some(let f?): reply.integer(f ? 1 : 0)
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func smembers(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            let ok: Bool? = try command.withArgument(1) { (key) throws(EngineError) in
                try read(key, &state) { h, record in
                    guard h.kind == .set else { return false }
                    let payload = record.payload(h)
                    let ranges = ElementsPayload.ranges(payload)?.ranges ?? []
                    reply.setHeader(ranges.count)
                    for r in ranges { reply.bulk(UnsafeRawBufferPointer(rebasing: payload[r])) }
                    return true
                }
            }
            switch ok {
            case nil: reply.setHeader(0)
            case false?: reply.error(Self.wrongType)
            case true?: break
            }
        } catch {
            engineFailed(error, &reply)
        }
    }
}


extension Optional where Wrapped == (RecordHeader, [UInt8]) {
    /// Calls `body` with the record's payload bytes, or nil when there is no record.
    func withPayload<R>(_ body: (UnsafeRawBufferPointer?) throws(EngineError) -> R) throws(EngineError) -> R {
        guard let (h, record) = self else { return try body(nil) }
        return try record.withBytes { (raw) throws(EngineError) -> R in try body(raw.payload(h)) }
    }
}
