// Expiry: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX XX GT LT), PERSIST, SETEX, PSETEX, and active expiry.

import KVCore
import NIOCore
import RESP

extension CommandExecutor {
    static let expiryCommands: [CommandSpec] = [
        CommandSpec(name: "expire", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) {
            $0.expire($1, &$2, &$3, name: "expire", milliseconds: false, absolute: false)
        },
        CommandSpec(name: "pexpire", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) {
            $0.expire($1, &$2, &$3, name: "pexpire", milliseconds: true, absolute: false)
        },
        CommandSpec(name: "expireat", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) {
            $0.expire($1, &$2, &$3, name: "expireat", milliseconds: false, absolute: true)
        },
        CommandSpec(name: "pexpireat", arity: -3, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) {
            $0.expire($1, &$2, &$3, name: "pexpireat", milliseconds: true, absolute: true)
        },
        CommandSpec(name: "persist", arity: 2, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1) { $0.persist($1, &$2, &$3) },
        CommandSpec(name: "setex", arity: 4, flags: ["write", "denyoom"], firstKey: 1, lastKey: 1, step: 1) {
            $0.setWithExpiry($1, &$2, &$3, name: "setex", milliseconds: false)
        },
        CommandSpec(name: "psetex", arity: 4, flags: ["write", "denyoom"], firstKey: 1, lastKey: 1, step: 1) {
            $0.setWithExpiry($1, &$2, &$3, name: "psetex", milliseconds: true)
        },
    ]

    /// Rewrites `key`'s main record with the same payload and a new deadline. Caller holds the lock.
    func rewriteDeadline(_ key: UnsafeRawBufferPointer, _ header: RecordHeader, _ record: [UInt8], _ deadline: Int64?,
                         _ state: inout ConnectionState) throws(EngineError) {
        try writeRecord(key, kind: header.kind, expiresAt: deadline, &state) { out in
            record.withUnsafeBytes { out.append(contentsOf: $0.payload(header)) }
        }
    }

    /// EXPIRE and friends, as Redis 7's `expireGenericCommand`: options first, then the time;
    /// a deadline already past deletes the key (and replies 1).
    func expire(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, name: String,
                milliseconds: Bool, absolute: Bool) {
        var nx = false, xx = false, gt = false, lt = false
        for i in 3..<command.count {
            if Arguments.matches(command, i, "nx") { nx = true }
            else if Arguments.matches(command, i, "xx") { xx = true }
            else if Arguments.matches(command, i, "gt") { gt = true }
            else if Arguments.matches(command, i, "lt") { lt = true }
            else { reply.error("ERR Unsupported option \(command.string(i))"); return }
        }
        if nx && (xx || gt || lt) { reply.error("ERR NX and XX, GT or LT options at the same time are not compatible"); return }
        if gt && lt { reply.error("ERR GT and LT options at the same time are not compatible"); return }
        guard let given = Arguments.int64(command, 2) else { reply.error(Self.notInteger); return }
        let now = clock.millisecondsSinceEpoch()
        var deadline = given
        let invalid = "ERR invalid expire time in '\(name)' command"
        if !milliseconds {
            let (ms, overflow) = given.multipliedReportingOverflow(by: 1000)
            guard !overflow else { reply.error(invalid); return }
            deadline = ms
        }
        if !absolute {
            let (sum, overflow) = deadline.addingReportingOverflow(now)
            guard !overflow else { reply.error(invalid); return }
            deadline = sum
        }
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    guard let (header, record) = try readCopy(key, &state) else { reply.integer(0); return }
                    if let current = header.expiresAt {
                        if nx || (gt && deadline <= current) || (lt && deadline >= current) { reply.integer(0); return }
                    } else if xx || gt {
                        // No deadline counts as an infinite one: GT can never pass it.
                        reply.integer(0)
                        return
                    }
                    if deadline <= now {
                        // Redis deletes without counting it in expired_keys: the client asked.
                        try removeRecord(key, header: header, &state)
                    } else {
                        try rewriteDeadline(key, header, record, deadline, &state)
                    }
                    reply.integer(1)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    func persist(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        do {
            try command.withArgument(1) { (key) throws(EngineError) in
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    guard let (header, record) = try readCopy(key, &state), header.expiresAt != nil else { reply.integer(0); return }
                    try rewriteDeadline(key, header, record, nil, &state)
                    reply.integer(1)
                }
            }
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// SETEX key seconds value, PSETEX key milliseconds value.
    func setWithExpiry(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply, name: String, milliseconds: Bool) {
        guard let given = Arguments.int64(command, 2) else { reply.error(Self.notInteger); return }
        let invalid = "ERR invalid expire time in '\(name)' command"
        guard given > 0 else { reply.error(invalid); return }
        let (ms, o1) = milliseconds ? (given, false) : given.multipliedReportingOverflow(by: 1000)
        let (deadline, o2) = ms.addingReportingOverflow(clock.millisecondsSinceEpoch())
        guard !o1, !o2 else { reply.error(invalid); return }
        do {
            try command.storage.withBytes { (all) throws(EngineError) in
                let key = UnsafeRawBufferPointer(rebasing: all[command.ranges[1]])
                let value = UnsafeRawBufferPointer(rebasing: all[command.ranges[3]])
                try withKeyLock(key, &state) { (state) throws(EngineError) in
                    try prepareOverwrite(key, &state)
                    try writeRecord(key, kind: .string, expiresAt: deadline, &state) { $0.append(contentsOf: value) }
                }
            }
            reply.ok()
        } catch {
            engineFailed(error, &reply)
        }
    }

    // MARK: - Active expiry

    /// What one active-expiry cycle did.
    public struct ActiveExpiryReport: Sendable, Equatable {
        /// Keys looked at, over all rounds.
        public var sampled = 0
        /// Keys deleted because their deadline had passed.
        public var expired = 0
        /// Sampling rounds run.
        public var rounds = 0
    }

    /// One active-expiry cycle, as Redis's `activeExpireCycle`: sample `keysPerRound` keys that
    /// were given a deadline, delete the expired ones, and go again while more than a quarter of
    /// a sample had expired, at most `maxRounds` times (the bound keeps one cycle short, as
    /// Redis bounds its cycle by time). Keys that lost their deadline leave the sample set.
    @discardableResult
    public func activeExpireCycle(keysPerRound: Int = 20, maxRounds: Int = 16) -> ActiveExpiryReport {
        var report = ActiveExpiryReport()
        var state = ConnectionState(id: 0, authenticated: true)
        keyspace.withCommandLock(exclusive: false) {
            while report.rounds < maxRounds {
                let sample = random.withLock { keyspace.expiryCandidates.sample(keysPerRound, using: &$0) }
                guard !sample.isEmpty else { break }
                report.rounds += 1
                var expired = 0
                for key in sample {
                    do {
                        let outcome = try key.withUnsafeBytes { (k) throws(EngineError) -> Bool? in
                            try withKeyLock(k, &state) { (state) throws(EngineError) -> Bool? in
                                guard let header = try rawHeader(k, &state), let deadline = header.expiresAt else { return nil }
                                guard deadline <= clock.millisecondsSinceEpoch() else { return false }
                                try removeRecord(k, header: header, &state)
                                return true
                            }
                        }
                        switch outcome {
                        case nil: keyspace.expiryCandidates.remove(key)
                        case true?:
                            keyspace.expiryCandidates.remove(key)
                            expired += 1
                        case false?: break
                        }
                    } catch {
                        logger.error("active expiry: engine error: \(error)")
                        return
                    }
                }
                report.sampled += sample.count
                report.expired += expired
                if expired * 4 <= sample.count { break }
            }
        }
        statistics.expiredKeys.add(report.expired, ordering: .relaxed)
        return report
    }

    /// Runs `activeExpireCycle` every `interval` on `eventLoop` (Redis's `hz` 10: every 100 ms),
    /// until the loop shuts down.
    @discardableResult
    public func startActiveExpiry(on eventLoop: any EventLoop, every interval: TimeAmount = .milliseconds(100)) -> RepeatedTask {
        eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            activeExpireCycle()
        }
    }
}
