// Reading and writing main records on behalf of commands: expiry, type checks, sorted-set cleanup.

import KVCore
import RESP

extension CommandExecutor {
    // MARK: - Key locks

    /// Runs `body` holding the stripe lock of `key`, recorded in `state` so the lazy-expiry path
    /// inside knows not to take it again. Already held (a multi-key command, a nested helper):
    /// runs `body` without locking.
    @inline(__always)
    func withKeyLock<R>(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState,
                        _ body: (inout ConnectionState) throws(EngineError) -> R) throws(EngineError) -> R {
        let stripe = Keyspace.stripe(of: key)
        if state.heldStripes.contains(stripe) { return try body(&state) }
        keyspace.lockStripe(stripe)
        state.heldStripes.append(stripe)
        defer {
            state.heldStripes.removeLast()
            keyspace.unlockStripe(stripe)
        }
        return try body(&state)
    }

    /// Runs `body` holding the stripes of arguments `indices` of `command`, taken in ascending
    /// stripe order (so two multi-key commands cannot deadlock). The caller holds no stripe.
    func withKeyLocks<R>(_ command: RESPCommand, _ indices: some Sequence<Int>, _ state: inout ConnectionState,
                         _ body: (inout ConnectionState) throws(EngineError) -> R) throws(EngineError) -> R {
        var wanted: [Int] = []
        for i in indices { wanted.append(command.withArgument(i) { Keyspace.stripe(of: $0) }) }
        wanted.sort()
        var taken: [Int] = []
        for s in wanted where taken.last != s && !state.heldStripes.contains(s) {
            keyspace.lockStripe(s)
            taken.append(s)
        }
        let before = state.heldStripes.count
        state.heldStripes.append(contentsOf: taken)
        defer {
            state.heldStripes.removeLast(state.heldStripes.count - before)
            for s in taken.reversed() { keyspace.unlockStripe(s) }
        }
        return try body(&state)
    }

    /// `withKeyLocks` for a body that cannot fail.
    func withKeyLocksInfallible(_ command: RESPCommand, _ indices: some Sequence<Int>, _ state: inout ConnectionState,
                                _ body: (inout ConnectionState) -> Void) {
        let done: Void? = try? withKeyLocks(command, indices, &state) { (state) throws(EngineError) in body(&state) }
        _ = done
    }

    // MARK: - Reading

    /// Calls `body` with the live main record of `key` (header and whole record); nil if the key
    /// is absent or expired. An expired key found here is deleted (lazy expiry): directly if
    /// this connection holds the key's stripe (re-taking it would deadlock), under the stripe if
    /// it holds no stripe, and not at all (active expiry will) if it holds other stripes only,
    /// since taking one more out of order could deadlock against a multi-key command.
    ///
    /// A command that holds no stripe reads under the key's stripe, so a single-key read (GET,
    /// HGET, TYPE...) never sees part of a multi-key write (MSET, DEL k1 k2...), which holds
    /// every stripe it writes: as in Redis, where commands run one at a time.
    @inline(__always)
    func read<R>(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState,
                 _ body: (RecordHeader, UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        if state.heldStripes.isEmpty {
            return try withKeyLock(key, &state) { (state) throws(EngineError) -> R? in try readHoldingStripes(key, &state, body) }
        }
        return try readHoldingStripes(key, &state, body)
    }

    /// `read` for a caller that holds the key's stripe, or other stripes only.
    @inline(__always)
    private func readHoldingStripes<R>(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState,
                                       _ body: (RecordHeader, UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        Keyspace.mainKey(key, into: &state.keyScratch)
        var expired = false
        let now = clock.millisecondsSinceEpoch()
        let result: R?? = try state.keyScratch.withBytes { (k) throws(EngineError) -> R?? in
            try keyspace.withEngine { (engine) throws(EngineError) -> R?? in
                try engine.get(k) { record -> R? in
                    guard let header = Keyspace.header(of: record) else { return nil }
                    if let deadline = header.expiresAt, deadline <= now {
                        expired = true
                        return nil
                    }
                    return body(header, record)
                }
            }
        }
        if expired { try expireIfDue(key, &state) }
        return result ?? nil
    }

    /// The live main record of `key`, copied (for read-modify-write under the key's lock).
    func readCopy(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) -> (RecordHeader, [UInt8])? {
        try read(key, &state) { header, record in (header, Array(record)) }
    }

    /// Deletes `key` if its deadline has passed, re-checked under the key's stripe (see `read`
    /// for when the stripe is taken). Returns true if it deleted the key.
    @discardableResult
    func expireIfDue(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) -> Bool {
        let stripe = Keyspace.stripe(of: key)
        guard state.heldStripes.isEmpty || state.heldStripes.contains(stripe) else { return false }
        return try withKeyLock(key, &state) { (state) throws(EngineError) -> Bool in
            guard let header = try rawHeader(key, &state), header.isExpired(now: clock.millisecondsSinceEpoch()) else { return false }
            try removeRecord(key, header: header, &state)
            statistics.expiredKeys.add(1, ordering: .relaxed)
            return true
        }
    }

    /// Removes `key` and, for a sorted set, its member records. Caller holds the key's lock.
    /// - Returns: true if a main record was removed.
    @discardableResult
    func removeRecord(_ key: UnsafeRawBufferPointer, header: RecordHeader?, _ state: inout ConnectionState) throws(EngineError) -> Bool {
        if header?.kind == .sortedSet { try removeSortedSetMembers(key, &state) }
        keyspace.touch(key)
        Keyspace.mainKey(key, into: &state.keyScratch)
        return try state.keyScratch.withBytes { (k) throws(EngineError) in
            try keyspace.withEngine { (e) throws(EngineError) in try e.delete(k, options: .default) }
        }
    }

    /// The header of `key`'s main record, live or expired (caller holds the key's lock).
    func rawHeader(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) -> RecordHeader? {
        Keyspace.mainKey(key, into: &state.keyScratch)
        return try state.keyScratch.withBytes { (k) throws(EngineError) in
            try keyspace.withEngine { (e) throws(EngineError) in try e.get(k) { Keyspace.header(of: $0) } } ?? nil
        }
    }

    /// Deletes `key` if present, and says whether it was live (DEL). Caller holds the key's lock.
    func deleteKey(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) -> Bool {
        guard let header = try rawHeader(key, &state) else { return false }
        let live = !header.isExpired(now: clock.millisecondsSinceEpoch())
        try removeRecord(key, header: header, &state)
        return live
    }

    /// Writes `key`'s main record: header then the payload `fill` appends. Caller holds the lock.
    /// Bumps the key's WATCH version; a deadline makes the key a candidate for active expiry.
    @inline(__always)
    func writeRecord(_ key: UnsafeRawBufferPointer, kind: ValueKind, expiresAt: Int64?, _ state: inout ConnectionState,
                     _ fill: (inout [UInt8]) -> Void) throws(EngineError) {
        state.valueScratch.removeAll(keepingCapacity: true)
        Keyspace.appendHeader(kind: kind, expiresAt: expiresAt, to: &state.valueScratch)
        fill(&state.valueScratch)
        keyspace.touch(key)
        if expiresAt != nil { keyspace.expiryCandidates.insert(key) }
        Keyspace.mainKey(key, into: &state.keyScratch)
        let engineKey = state.keyScratch
        try engineKey.withBytes { (k) throws(EngineError) in
            try state.valueScratch.withBytes { (v) throws(EngineError) in
                try keyspace.withEngine { (e) throws(EngineError) in try e.put(k, v, options: .default) }
            }
        }
    }

    /// Before a plain overwrite: on ordered engines, removes the sorted-set member records the
    /// key may own (unordered engines cannot hold sorted sets, so they skip the lookup).
    @inline(__always)
    func prepareOverwrite(_ key: UnsafeRawBufferPointer, _ state: inout ConnectionState) throws(EngineError) {
        guard keyspace.ordered else { return }
        if let header = try rawHeader(key, &state), header.kind == .sortedSet {
            try removeSortedSetMembers(key, &state)
        }
    }
}

// MARK: - Hash payloads

enum HashPayload {
    /// Visits each (field, value) of a hash payload in order; false if the payload is malformed.
    @discardableResult
    static func forEach(_ payload: UnsafeRawBufferPointer, _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard let (count, a) = Varint.read(payload, at: 0) else { return false }
        var offset = a
        for _ in 0..<count {
            guard let (fl, b) = Varint.read(payload, at: offset), Int(fl) <= payload.count - offset - b else { return false }
            let field = UnsafeRawBufferPointer(rebasing: payload[(offset + b)..<(offset + b + Int(fl))])
            offset += b + Int(fl)
            guard let (vl, c) = Varint.read(payload, at: offset), Int(vl) <= payload.count - offset - c else { return false }
            let value = UnsafeRawBufferPointer(rebasing: payload[(offset + c)..<(offset + c + Int(vl))])
            offset += c + Int(vl)
            if !visit(field, value) { return true }
        }
        return true
    }

    static func count(_ payload: UnsafeRawBufferPointer) -> Int {
        Varint.read(payload, at: 0).map { Int($0.value) } ?? 0
    }

    /// The pairs, copied.
    static func decode(_ payload: UnsafeRawBufferPointer) -> [(field: [UInt8], value: [UInt8])] {
        var pairs: [(field: [UInt8], value: [UInt8])] = []
        forEach(payload) { f, v in pairs.append((Array(f), Array(v))); return true }
        return pairs
    }

    static func encode(_ pairs: [(field: [UInt8], value: [UInt8])], into out: inout [UInt8]) {
        Varint.append(UInt64(pairs.count), to: &out)
        for (f, v) in pairs {
            Varint.append(UInt64(f.count), to: &out)
            out.append(contentsOf: f)
            Varint.append(UInt64(v.count), to: &out)
            out.append(contentsOf: v)
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes after the header.
    @inline(__always)
    func payload(_ header: RecordHeader) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[header.payloadOffset...])
    }
}
