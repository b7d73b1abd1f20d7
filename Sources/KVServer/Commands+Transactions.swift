// Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis's replies and errors.

import KVCore
import RESP

extension CommandExecutor {
    static let transactionCommands: [CommandSpec] = [
        CommandSpec(name: "multi", arity: 1, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0,
                    immediateInTransaction: true) { _, _, s, r in
            guard s.queued == nil else { r.error("ERR MULTI calls can not be nested"); return }
            s.queued = []
            s.transactionFailed = false
            r.ok()
        },
        // EXEC holds the command lock exclusively: the queued commands run with no other
        // command in between, as on Redis's single thread.
        CommandSpec(name: "exec", arity: 1, flags: ["noscript", "loading", "stale", "skip_slowlog"], firstKey: 0, lastKey: 0, step: 0,
                    exclusive: true, immediateInTransaction: true) { $0.exec($1, &$2, &$3) },
        CommandSpec(name: "discard", arity: 1, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0,
                    immediateInTransaction: true) { _, _, s, r in
            guard s.queued != nil else { r.error("ERR DISCARD without MULTI"); return }
            s.queued = nil
            s.transactionFailed = false
            s.watched.removeAll()
            r.ok()
        },
        CommandSpec(name: "watch", arity: -2, flags: ["noscript", "loading", "stale", "fast"], firstKey: 1, lastKey: -1, step: 1,
                    immediateInTransaction: true) { $0.watch($1, &$2, &$3) },
        CommandSpec(name: "unwatch", arity: 1, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0) { _, _, s, r in
            s.watched.removeAll()
            r.ok()
        },
    ]

    func watch(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard state.queued == nil else { reply.error("ERR WATCH inside MULTI is not allowed"); return }
        let now = clock.millisecondsSinceEpoch()
        let epoch = keyspace.flushEpoch.load(ordering: .relaxed)
        do {
            // Each key's version and deadline are read under its stripe, so a write that lands
            // after WATCH returns is always seen by EXEC.
            try withKeyLocks(command, 1..<command.count, &state) { (state) throws(EngineError) in
                for i in 1..<command.count {
                    try command.withArgument(i) { (key) throws(EngineError) in
                        let bytes = Array(key)
                        guard !state.watched.contains(where: { $0.key == bytes }) else { return }
                        let header = try rawHeader(key, &state)
                        let live = header.map { !$0.isExpired(now: now) } ?? false
                        state.watched.append(WatchedKey(key: bytes, version: keyspace.version(of: key), flushEpoch: epoch,
                                                        existed: live, expiresAt: live ? header?.expiresAt : nil))
                    }
                }
            }
            reply.ok()
        } catch {
            engineFailed(error, &reply)
        }
    }

    /// Whether a WATCHed key was touched since WATCH: written, expired, or flushed while it
    /// existed. The caller holds the command lock exclusively.
    func watchedKeysChanged(_ state: ConnectionState) -> Bool {
        let now = clock.millisecondsSinceEpoch()
        let epoch = keyspace.flushEpoch.load(ordering: .relaxed)
        for w in state.watched {
            let version = w.key.withUnsafeBytes { keyspace.version(of: $0) }
            if version != w.version { return true }
            if w.existed && epoch != w.flushEpoch { return true }
            if let deadline = w.expiresAt, deadline <= now { return true }
        }
        return false
    }

    func exec(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard let queued = state.queued else { reply.error("ERR EXEC without MULTI"); return }
        let failed = state.transactionFailed
        let dirty = watchedKeysChanged(state)
        state.queued = nil
        state.transactionFailed = false
        state.watched.removeAll()
        if failed {
            reply.error("EXECABORT Transaction discarded because of previous errors.")
            return
        }
        if dirty {
            reply.nullArray()
            return
        }
        reply.arrayHeader(queued.count)
        for queuedCommand in queued {
            // Checked when queued (name, arity, authentication); run as `execute` would, under
            // the exclusive command lock EXEC already holds.
            guard let spec = commands[Self.lowercasedName(queuedCommand)] else {
                reply.error("ERR unknown command")
                continue
            }
            spec.handler(self, queuedCommand, &state, &reply)
            noteWriteCommand(spec, &state)  // appendfsync always: EXEC's writes wait for the fsync too
        }
    }
}
