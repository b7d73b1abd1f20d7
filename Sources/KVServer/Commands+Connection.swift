// Connection and server commands: PING ECHO HELLO AUTH SELECT QUIT CLIENT COMMAND INFO CONFIG.

#if canImport(Glibc)
import Glibc
#endif
import KVCore
import KVMemory
import RESP

extension CommandExecutor {
    /// The Redis version kvlab's server reports (the command set and reply shapes follow it).
    public static let redisCompatibleVersion = "7.0.0"

    static let allCommands: [CommandSpec] = connectionCommands + stringCommands + hashCommands + sortedSetCommands + keyCommands + replicationCommands
        + transactionCommands + expiryCommands + listAndSetCommands + debugCommands

    static let connectionCommands: [CommandSpec] = [
        CommandSpec(name: "ping", arity: -1, flags: ["fast", "stale"], firstKey: 0, lastKey: 0, step: 0) { _, c, _, r in
            switch c.count {
            case 1: r.simple("PONG")
            case 2: c.withArgument(1) { r.bulk($0) }
            default: r.error("ERR wrong number of arguments for 'ping' command")
            }
        },
        CommandSpec(name: "echo", arity: 2, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0) { _, c, _, r in c.withArgument(1) { r.bulk($0) } },
        CommandSpec(name: "hello", arity: -1, flags: ["noauth", "fast"], firstKey: 0, lastKey: 0, step: 0) { $0.hello($1, &$2, &$3) },
        CommandSpec(name: "auth", arity: -2, flags: ["noauth", "fast"], firstKey: 0, lastKey: 0, step: 0) { $0.auth($1, &$2, &$3) },
        CommandSpec(name: "select", arity: 2, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0) { _, c, _, r in
            guard let n = Arguments.int64(c, 1) else { r.error(notInteger); return }
            if n == 0 { r.ok() } else { r.error("ERR DB index is out of range") }
        },
        CommandSpec(name: "quit", arity: -1, flags: ["noauth", "fast"], firstKey: 0, lastKey: 0, step: 0,
                    immediateInTransaction: true) { _, _, s, r in
            r.ok()
            s.shouldClose = true
        },
        CommandSpec(name: "client", arity: -2, flags: [], firstKey: 0, lastKey: 0, step: 0) { $0.client($1, &$2, &$3) },
        CommandSpec(name: "command", arity: -1, flags: [], firstKey: 0, lastKey: 0, step: 0) { $0.command($1, &$2, &$3) },
        CommandSpec(name: "info", arity: -1, flags: [], firstKey: 0, lastKey: 0, step: 0) { e, c, s, r in
            r.verbatim(e.info(sections: (1..<c.count).map { c.string($0).lowercased() }, state: s))
        },
        CommandSpec(name: "config", arity: -2, flags: [], firstKey: 0, lastKey: 0, step: 0) { $0.config($1, &$2, &$3) },
    ]

    func passwordMatches(_ given: [UInt8]) -> Bool {
        guard let required = configuration.requirePassword else { return false }
        // Compare every byte regardless of where a difference is, so timing reveals less.
        let expected = Array(required.utf8)
        var difference = expected.count ^ given.count
        for i in 0..<Swift.max(expected.count, given.count) {
            difference |= Int((i < expected.count ? expected[i] : 0) ^ (i < given.count ? given[i] : 0))
        }
        return difference == 0
    }

    func auth(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        guard command.count <= 3 else { reply.error(Self.syntaxError); return }
        guard configuration.requirePassword != nil else {
            if command.count == 2 {
                reply.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
            } else {
                reply.error("WRONGPASS invalid username-password pair or user is disabled.")
            }
            return
        }
        let userOK = command.count == 2 || command.string(1) == "default"
        if userOK && passwordMatches(command.argument(command.count - 1)) {
            state.authenticated = true
            reply.ok()
        } else {
            statistics.authenticationFailures.add(1, ordering: .relaxed)
            reply.error("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    func hello(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        var version = state.protocolVersion
        var i = 1
        if command.count >= 2 {
            guard let v = Arguments.int64(command, 1) else { reply.error("ERR Protocol version is not an integer or out of range"); return }
            guard v == 2 || v == 3 else { reply.error("NOPROTO unsupported protocol version"); return }
            version = v == 3 ? .resp3 : .resp2
            i = 2
        }
        var newName: String? = nil
        var authenticated = state.authenticated
        while i < command.count {
            if Arguments.matches(command, i, "auth") && i + 2 < command.count {
                let userOK = command.string(i + 1) == "default"
                guard configuration.requirePassword != nil || true else { break }
                if configuration.requirePassword == nil ? !userOK : !(userOK && passwordMatches(command.argument(i + 2))) {
                    statistics.authenticationFailures.add(1, ordering: .relaxed)
                    reply.error("WRONGPASS invalid username-password pair or user is disabled.")
                    return
                }
                authenticated = true
                i += 3
            } else if Arguments.matches(command, i, "setname") && i + 1 < command.count {
                newName = command.string(i + 1)
                i += 2
            } else {
                reply.error("ERR Syntax error in HELLO option '\(command.string(i))'")
                return
            }
        }
        guard authenticated else {
            reply.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
            return
        }
        if let newName {
            guard Self.validClientName(newName) else { reply.error("ERR Client names cannot contain spaces, newlines or special characters."); return }
            state.name = newName.isEmpty ? nil : newName
        }
        state.authenticated = true
        state.protocolVersion = version
        reply.version = version
        reply.mapHeader(7)
        reply.bulk("server"); reply.bulk("redis")
        reply.bulk("version"); reply.bulk(Self.redisCompatibleVersion)
        reply.bulk("proto"); reply.integer(version.rawValue)
        reply.bulk("id"); reply.integer(state.id)
        reply.bulk("mode"); reply.bulk("standalone")
        reply.bulk("role"); reply.bulk("master")
        reply.bulk("modules"); reply.arrayHeader(0)
    }

    static func validClientName(_ name: String) -> Bool {
        name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    func client(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        let sub = command.string(1).lowercased()
        switch (sub, command.count) {
        case ("id", 2): reply.integer(state.id)
        case ("getname", 2): if let name = state.name { reply.bulk(name) } else { reply.null() }
        case ("setname", 3):
            let name = command.string(2)
            guard Self.validClientName(name) else { reply.error("ERR Client names cannot contain spaces, newlines or special characters."); return }
            state.name = name.isEmpty ? nil : name
            reply.ok()
        case ("setinfo", 4): reply.ok()
        case ("info", 2): reply.verbatim(clientLine(state) + "\n")
        case ("list", _): reply.verbatim(clientLine(state) + "\n")
        default:
            reply.error("ERR unknown subcommand or wrong number of arguments for '\(command.string(1))'. Try CLIENT HELP.")
        }
    }

    func clientLine(_ state: ConnectionState) -> String {
        "id=\(state.id) addr=\(state.peer) name=\(state.name ?? "") db=0 resp=\(state.protocolVersion.rawValue)"
    }

    /// One COMMAND entry: name, arity, flags, first key, last key, step, ACL categories, tips, key specs, subcommands.
    func writeCommandEntry(_ spec: CommandSpec, _ reply: inout Reply) {
        reply.arrayHeader(10)
        reply.bulk(spec.name)
        reply.integer(spec.arity)
        reply.setHeader(spec.flags.count)
        for f in spec.flags { reply.simple(f) }
        reply.integer(spec.firstKey)
        reply.integer(spec.lastKey)
        reply.integer(spec.step)
        reply.setHeader(0)
        reply.setHeader(0)
        reply.arrayHeader(0)
        reply.arrayHeader(0)
    }

    func command(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        let specs = Self.allCommands
        if command.count == 1 {
            reply.arrayHeader(specs.count)
            for s in specs { writeCommandEntry(s, &reply) }
            return
        }
        switch command.string(1).lowercased() {
        case "count": reply.integer(specs.count)
        case "info":
            let names = command.count == 2 ? specs.map(\.name) : (2..<command.count).map { command.string($0).lowercased() }
            reply.arrayHeader(names.count)
            for n in names {
                if let s = commands[n] { writeCommandEntry(s, &reply) } else { reply.nullArray() }
            }
        case "docs": reply.mapHeader(0)
        case "list":
            reply.arrayHeader(specs.count)
            for s in specs { reply.bulk(s.name) }
        default:
            reply.error("ERR unknown subcommand or wrong number of arguments for '\(command.string(1))'. Try COMMAND HELP.")
        }
    }

    /// The CONFIG GET parameters kvlab answers (what redis-benchmark and redis-cli ask for, and the limits).
    func configParameters() -> [(String, String)] {
        [
            ("save", ""), ("appendonly", "no"), ("databases", "1"),
            ("port", String(boundPort.port)), ("bind", configuration.host),
            ("maxclients", String(configuration.maxClients)), ("timeout", String(configuration.idleTimeoutSeconds)),
            ("proto-max-bulk-len", String(configuration.limits.maxBulkLength)),
            ("client-query-buffer-limit", String(configuration.limits.maxQueryBuffer)),
            ("maxmemory", "0"), ("maxmemory-policy", "noeviction"),
            // Never the password itself: CONFIG GET output ends up in logs and bug reports.
            ("requirepass", configuration.requirePassword == nil ? "" : "(redacted)"),
            ("protected-mode", configuration.protectedMode ? "yes" : "no"),
            ("client-output-buffer-limit", configuration.outputBufferLimit.description),
        ]
    }

    func config(_ command: RESPCommand, _ state: inout ConnectionState, _ reply: inout Reply) {
        switch command.string(1).lowercased() {
        case "get" where command.count >= 3:
            var matched: [(String, String)] = []
            for (name, value) in configParameters() {
                let hit = (2..<command.count).contains { GlobPattern.matches(command.argument($0), Array(name.utf8), caseInsensitive: true) }
                if hit { matched.append((name, value)) }
            }
            reply.mapHeader(matched.count)
            for (n, v) in matched { reply.bulk(n); reply.bulk(v) }
        case "resetstat" where command.count == 2:
            reply.ok()
        case "set" where command.count >= 4:
            reply.error("ERR CONFIG SET is not supported by kvlab (parameter '\(command.string(2))'); restart `kvlab serve` with the option instead")
        default:
            reply.error("ERR unknown subcommand or wrong number of arguments for '\(command.string(1))'. Try CONFIG HELP.")
        }
    }

    /// INFO's text: the server, clients, memory, persistence, stats and keyspace sections (all by default).
    public func info(sections requested: [String], state: ConnectionState) -> String {
        let all = ["server", "clients", "memory", "persistence", "stats", "replication", "keyspace"]
        let wanted = requested.isEmpty || requested.contains(where: { ["all", "default", "everything"].contains($0) })
            ? all : all.filter { requested.contains($0) }
        let s = statistics
        let now = clock.millisecondsSinceEpoch()
        var lines: [String] = []
        for section in wanted {
            if !lines.isEmpty { lines.append("") }
            switch section {
            case "server":
                lines += ["# Server", "redis_version:\(Self.redisCompatibleVersion)", "kvlab_engine:\(keyspace.engineName)",
                          "redis_mode:standalone", "os:Linux", "arch_bits:64", "multiplexing_api:epoll",
                          "process_id:\(getpid())", "run_id:\(replication.runID)", "tcp_port:\(boundPort.port)",
                          "uptime_in_seconds:\((now - s.startMilliseconds) / 1000)",
                          "uptime_in_days:\((now - s.startMilliseconds) / 86_400_000)",
                          "io_threads_active:\(configuration.threads > 1 ? 1 : 0)", "event_loop_threads:\(configuration.threads)"]
            case "clients":
                lines += ["# Clients", "connected_clients:\(s.connectedClients.load(ordering: .relaxed))",
                          "maxclients:\(configuration.maxClients)", "blocked_clients:0"]
            case "memory":
                // Redis's field names, from the allocator itself (jemalloc's mallctl, or glibc's
                // mallinfo2) and the kernel's resident set.
                let m = AllocatorStatistics.snapshot()
                let peak = statistics.notePeakMemory(m.allocated)
                lines += ["# Memory",
                          "used_memory:\(m.allocated)", "used_memory_human:\(Self.human(m.allocated))",
                          "used_memory_rss:\(m.resident)", "used_memory_rss_human:\(Self.human(m.resident))",
                          "used_memory_peak:\(peak)", "used_memory_peak_human:\(Self.human(peak))",
                          "allocator_allocated:\(m.allocated)", "allocator_active:\(m.active)",
                          "allocator_resident:\(m.allocatorResident)",
                          "mem_fragmentation_ratio:\(Self.twoDecimals(m.fragmentationRatio))",
                          "mem_allocator:\(m.allocator)"]
            case "persistence":
                lines += persistenceInfoLines()
            case "stats":
                lines += ["# Stats",
                          "total_connections_received:\(s.totalConnectionsReceived.load(ordering: .relaxed))",
                          "total_commands_processed:\(s.totalCommandsProcessed.load(ordering: .relaxed) + state.pendingCommands)",
                          "total_net_input_bytes:\(s.totalNetInputBytes.load(ordering: .relaxed))",
                          "total_net_output_bytes:\(s.totalNetOutputBytes.load(ordering: .relaxed))",
                          "rejected_connections:\(s.rejectedConnections.load(ordering: .relaxed))",
                          "keyspace_hits:\(s.keyspaceHits.load(ordering: .relaxed) + state.pendingHits)",
                          "keyspace_misses:\(s.keyspaceMisses.load(ordering: .relaxed) + state.pendingMisses)",
                          "expired_keys:\(s.expiredKeys.load(ordering: .relaxed))",
                          "total_error_replies:0",
                          "protocol_errors:\(s.protocolErrors.load(ordering: .relaxed))",
                          "client_output_buffer_limit_disconnections:\(s.outputBufferLimitDisconnections.load(ordering: .relaxed))",
                          "acl_access_denied_auth:\(s.authenticationFailures.load(ordering: .relaxed))"]
                lines += replication.statsLines()
            case "replication":
                lines += replication.infoLines()
            case "keyspace":
                lines.append("# Keyspace")
                let keys = keyspace.heldKeyCount
                if keys > 0 { lines.append("db0:keys=\(keys),expires=\(Swift.min(keys, keyspace.expiryCandidates.count)),avg_ttl=0") }
            default: break
            }
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// Redis's `*_human` form: bytes with B, K, M, G, T suffixes, two decimals.
    static func human(_ bytes: Int) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes)B" : twoDecimals(value) + units[unit]
    }

    static func twoDecimals(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }
}
