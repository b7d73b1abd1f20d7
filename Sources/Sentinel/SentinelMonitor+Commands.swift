// The RESP commands a sentinel answers, with Redis Sentinel's reply shapes (redis-py's
// `redis.sentinel.Sentinel` parses them).

import KVClient
import RESP

extension SentinelMonitor {
    /// Executes one client or peer command at `now` and returns its reply.
    /// - Parameters:
    ///   - serverPort: the port this sentinel listens on (INFO's `tcp_port`).
    ///   - resp3: the connection speaks RESP3 (after `HELLO 3`): states are maps, as Redis
    ///     replies to redis-py 5+, which asks for RESP3 by default.
    public mutating func execute(_ arguments: [String], now: Int64, serverPort: Int, resp3: Bool = false) -> RESPValue {
        guard let name = arguments.first?.lowercased() else { return .error("ERR empty command") }
        switch name {
        case "hello":
            if arguments.count > 1 {
                guard let version = Int(arguments[1]), version == 2 || version == 3 else {
                    return .error("NOPROTO unsupported protocol version")
                }
                return Self.record([("server", "redis"), ("version", "7.0.15"), ("proto", String(version)), ("id", "1"),
                                    ("mode", "sentinel"), ("role", "master")], resp3: version == 3, integers: ["proto", "id"])
            }
            return Self.record([("server", "redis"), ("version", "7.0.15"), ("proto", resp3 ? "3" : "2"), ("id", "1"),
                                ("mode", "sentinel"), ("role", "master")], resp3: resp3, integers: ["proto", "id"])
        case "ping":
            return arguments.count > 1 ? .bulk(arguments[1]) : .simpleString("PONG")
        case "info":
            return .bulk(infoText(section: arguments.count > 1 ? arguments[1].lowercased() : "default", serverPort: serverPort))
        case "role":
            return .array([.bulk("sentinel"), .array([.bulk(configuration.masterName)])])
        case "client":
            // redis-py sends CLIENT SETINFO on connect; names are accepted and not kept.
            let sub = arguments.count > 1 ? arguments[1].lowercased() : ""
            return ["setinfo", "setname"].contains(sub) ? .simpleString("OK") : .error("ERR unknown subcommand '\(sub)'. Try CLIENT HELP.")
        case "sentinel":
            return sentinelCommand(Array(arguments.dropFirst()), now: now, resp3: resp3)
        default:
            let rest = arguments.dropFirst().prefix(3).map { "'\($0)'" }.joined(separator: " ")
            return .error("ERR unknown command '\(arguments[0])', with args beginning with: \(rest)")
        }
    }

    mutating func sentinelCommand(_ a: [String], now: Int64, resp3: Bool) -> RESPValue {
        guard let sub = a.first?.lowercased() else { return .error("ERR wrong number of arguments for 'sentinel' command") }
        func wrongArity() -> RESPValue { .error("ERR wrong number of arguments for 'sentinel|\(sub)' command") }
        func unknownMaster() -> RESPValue { .error("ERR No such master with that name") }
        switch sub {
        case "get-master-addr-by-name":
            guard a.count == 2 else { return wrongArity() }
            guard a[1] == configuration.masterName else { return .nullArray }
            let address = reportedMaster
            return .array([.bulk(address.host), .bulk(String(address.port))])
        case "masters":
            return .array([Self.record(masterState(now: now), resp3: resp3)])
        case "master":
            guard a.count == 2 else { return wrongArity() }
            return a[1] == configuration.masterName ? Self.record(masterState(now: now), resp3: resp3) : unknownMaster()
        case "replicas", "slaves":
            guard a.count == 2 else { return wrongArity() }
            guard a[1] == configuration.masterName else { return unknownMaster() }
            return .array(replicas.keys.sorted(by: Self.order).map { Self.record(replicaState(replicas[$0]!, now: now), resp3: resp3) })
        case "sentinels":
            guard a.count == 2 else { return wrongArity() }
            guard a[1] == configuration.masterName else { return unknownMaster() }
            return .array(peers.keys.sorted(by: Self.order).map { Self.record(peerState(peers[$0]!, now: now), resp3: resp3) })
        case "is-master-down-by-addr":
            guard a.count == 5 else { return wrongArity() }
            guard let port = Int(a[2]), (1...65535).contains(port) else { return .error("ERR invalid port '\(a[2])': expected 1..65535") }
            // Epochs are RESP integers (signed 64-bit) in the reply and are incremented by a
            // failover: a larger one from the network would trap.
            guard let epoch = UInt64(a[3]), epoch < UInt64(Int64.max) else {
                return .error("ERR invalid epoch '\(a[3])': expected an integer in 0..<\(Int64.max)")
            }
            let reply = answerVoteRequest(SentinelVoteRequest(master: RedisEndpoint(host: a[1], port: port), epoch: epoch, runID: a[4]), now: now)
            return .array([.integer(reply.masterDown ? 1 : 0), .bulk(reply.leader ?? "*"), .integer(Int64(clamping: reply.leaderEpoch))])
        case "failover":
            guard a.count == 2 else { return wrongArity() }
            guard a[1] == configuration.masterName else { return unknownMaster() }
            if let refusal = forceFailover(now: now) { return .error(refusal) }
            return .simpleString("OK")
        case "reset":
            guard a.count == 2 else { return wrongArity() }
            guard Self.globMatches(a[1], configuration.masterName) else { return .integer(0) }
            reset(now: now)
            return .integer(1)
        case "myid":
            return .bulk(configuration.runID)
        case "ckquorum":
            guard a.count == 2 else { return wrongArity() }
            guard a[1] == configuration.masterName else { return unknownMaster() }
            let usable = 1 + peers.values.filter { $0.lastReply.map { now - $0 <= 5 * configuration.pingIntervalMilliseconds + configuration.helloIntervalMilliseconds } ?? false }.count
            let majority = voters / 2 + 1
            if usable < configuration.quorum { return .error("NOQUORUM \(usable) usable Sentinels. Not enough available Sentinels to reach the specified quorum for this master") }
            if usable < majority { return .error("NOQUORUM \(usable) usable Sentinels. Not enough available Sentinels to reach the majority and authorize a failover") }
            return .simpleString("OK \(usable) usable Sentinels. Quorum and failover authorization can be reached")
        case "hello":
            // kvlab's replacement for the __sentinel__:hello channel: ip port runid current-epoch
            // master-name master-ip master-port config-epoch (Redis's hello fields, in order).
            guard a.count == 9 else { return wrongArity() }
            guard let port = Int(a[2]), (1...65535).contains(port), let epoch = UInt64(a[4]), epoch < UInt64(Int64.max),
                  let masterPort = Int(a[7]), (1...65535).contains(masterPort), let config = UInt64(a[8]), config < UInt64(Int64.max) else {
                return .error("ERR malformed SENTINEL HELLO: expected ip port runid current-epoch master-name master-ip master-port config-epoch")
            }
            receiveHello(SentinelHello(sentinel: RedisEndpoint(host: a[1], port: port), runID: a[3], currentEpoch: epoch,
                                       masterName: a[5], master: RedisEndpoint(host: a[6], port: masterPort), configEpoch: config), now: now)
            return .simpleString("OK")
        default:
            return .error("ERR unknown subcommand '\(a[0])'. Try SENTINEL HELP.")
        }
    }

    /// Redis's glob subset for SENTINEL RESET: `*`, `?` and literal characters.
    static func globMatches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern), t = Array(text)
        func match(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == t.count }
            if p[i] == "*" { return (j...t.count).contains { match(i + 1, $0) } }
            guard j < t.count, p[i] == "?" || p[i] == t[j] else { return false }
            return match(i + 1, j + 1)
        }
        return match(0, 0)
    }

    // MARK: - Reply shapes

    /// A state as Redis writes it: a flat field/value array in RESP2, a map in RESP3.
    static func record(_ items: [(String, String)], resp3: Bool, integers: Set<String> = []) -> RESPValue {
        func value(_ field: String, _ text: String) -> RESPValue {
            integers.contains(field) ? .integer(Int64(text) ?? 0) : .bulk(text)
        }
        if resp3 { return .map(items.map { RESPPair(.bulk($0.0), value($0.0, $0.1)) }) }
        return .array(items.flatMap { [RESPValue.bulk($0.0), value($0.0, $0.1)] })
    }

    func nodeFields(_ node: MonitoredNode, flags: [String], now: Int64) -> [(String, String)] {
        var f = flags
        if node.subjectivelyDownSince != nil { f.append("s_down") }
        if now - node.lastValidReply > 5 * configuration.pingIntervalMilliseconds { f.append("disconnected") }
        var out: [(String, String)] = [
            ("name", "\(node.address.host):\(node.address.port)"), ("ip", node.address.host), ("port", String(node.address.port)),
            ("runid", node.info.runID ?? ""), ("flags", f.joined(separator: ",")),
            ("link-pending-commands", node.pingInFlight ? "1" : "0"), ("link-refcount", "1"),
            ("last-ping-sent", String(node.pingInFlight ? now - (node.lastPingSent ?? now) : 0)),
            ("last-ok-ping-reply", String(now - node.lastValidReply)),
            ("last-ping-reply", String(now - node.lastValidReply)),
        ]
        if let since = node.subjectivelyDownSince { out.append(("s-down-time", String(now - since))) }
        out += [("down-after-milliseconds", String(configuration.downAfterMilliseconds)),
                ("info-refresh", String(node.lastInfo.map { now - $0 } ?? 0)),
                ("role-reported", node.info.role == .replica ? "slave" : "master"),
                ("role-reported-time", String(now - node.roleReportedTime))]
        return out
    }

    func masterState(now: Int64) -> [(String, String)] {
        var flags = ["master"]
        if objectivelyDownSince != nil { flags.append("o_down") }
        if failoverState != .none { flags.append("failover_in_progress") }
        var fields = nodeFields(master, flags: flags, now: now)
        fields[0] = ("name", configuration.masterName)
        if failoverState == .reconfigureReplicas, let promotedReplica {
            // Clients already get the promoted replica (get-master-addr-by-name); say the same here.
            fields[1] = ("ip", promotedReplica.host)
            fields[2] = ("port", String(promotedReplica.port))
        }
        if let since = objectivelyDownSince { fields.append(("o-down-time", String(now - since))) }
        fields += [("config-epoch", String(configEpoch)), ("num-slaves", String(replicas.count)),
                   ("num-other-sentinels", String(peers.count)), ("quorum", String(configuration.quorum)),
                   ("failover-timeout", String(configuration.failoverTimeoutMilliseconds)), ("parallel-syncs", "1")]
        if failoverState != .none {
            fields += [("failover-state", failoverState.rawValue), ("failover-epoch", String(failoverEpoch))]
        }
        return fields
    }

    func replicaState(_ node: MonitoredNode, now: Int64) -> [(String, String)] {
        var flags = ["slave"]
        if node.address == promotedReplica { flags.append("promoted") }
        var fields = nodeFields(node, flags: flags, now: now)
        fields += [("master-link-down-time", String((node.info.linkDownSeconds ?? 0) * 1000)),
                   ("master-link-status", node.info.linkUp ? "ok" : "err"),
                   ("master-host", node.info.primary?.host ?? "?"), ("master-port", String(node.info.primary?.port ?? 0)),
                   ("slave-priority", String(node.info.priority)), ("slave-repl-offset", String(node.info.offset)),
                   ("replica-announced", "1")]
        return fields
    }

    func peerState(_ peer: PeerSentinel, now: Int64) -> [(String, String)] {
        let silent = peer.lastReply.map { now - $0 } ?? now
        var flags = ["sentinel"]
        if silent > configuration.downAfterMilliseconds { flags.append("s_down") }
        if silent > 5 * configuration.pingIntervalMilliseconds + configuration.helloIntervalMilliseconds { flags.append("disconnected") }
        if peer.saysMasterDown { flags.append("master_down") }
        return [
            ("name", peer.runID ?? "\(peer.address)"), ("ip", peer.address.host), ("port", String(peer.address.port)),
            ("runid", peer.runID ?? ""), ("flags", flags.joined(separator: ",")),
            ("link-pending-commands", peer.askInFlight ? "1" : "0"), ("link-refcount", "1"),
            ("last-ping-sent", "0"), ("last-ok-ping-reply", String(silent)), ("last-ping-reply", String(silent)),
            ("down-after-milliseconds", String(configuration.downAfterMilliseconds)),
            ("last-hello-message", String(peer.lastHello.map { now - $0 } ?? now)),
            ("voted-leader", peer.leader ?? "?"), ("voted-leader-epoch", String(peer.leaderEpoch)),
        ]
    }

    /// INFO: the server and sentinel sections, as redis-sentinel prints them.
    func infoText(section: String, serverPort: Int) -> String {
        var lines: [String] = []
        let all = ["default", "all", "everything"].contains(section)
        if all || section == "server" {
            lines += ["# Server", "redis_version:7.0.15", "kvlab_sentinel:1", "redis_mode:sentinel",
                      "run_id:\(configuration.runID)", "tcp_port:\(serverPort)", ""]
        }
        if all || section == "sentinel" {
            let status = objectivelyDownSince != nil ? "odown" : (masterSubjectivelyDown ? "sdown" : "ok")
            let address = reportedMaster
            lines += ["# Sentinel", "sentinel_masters:1", "sentinel_tilt:0", "sentinel_running_scripts:0",
                      "sentinel_scripts_queue_length:0", "sentinel_simulate_failure_flags:0",
                      "sentinel_current_epoch:\(currentEpoch)",
                      "master0:name=\(configuration.masterName),status=\(status),address=\(address.host):\(address.port),slaves=\(replicas.count),sentinels=\(voters)",
                      ""]
        }
        return lines.joined(separator: "\r\n")
    }
}
