// The failover: start, election wait, replica choice, promotion, reconfiguration, switch.

import KVClient

extension SentinelMonitor {
    /// Starts a failover when the primary is ODOWN, none is running, and none started (or was
    /// voted for elsewhere) within twice the failover timeout: raises the epoch and sets the
    /// random delay before votes are asked.
    @discardableResult
    mutating func startFailoverIfNeeded(now: Int64) -> Bool {
        guard objectivelyDownSince != nil, failoverState == .none else { return false }
        guard now - failoverStartTime >= 2 * configuration.failoverTimeoutMilliseconds else { return false }
        startFailover(now: now, forced: false)
        return true
    }

    mutating func startFailover(now: Int64, forced: Bool) {
        currentEpoch += 1
        failoverEpoch = currentEpoch
        failoverForced = forced
        failoverState = .waitStart
        failoverStartTime = now
        failoverStateChangeTime = now
        voteRequestTime = forced ? now : now + Int64.random(in: 0...max(0, configuration.maximumStartDelayMilliseconds), using: &random)
        promotedReplica = nil
        replicaOfNoOneSent = false
        reconfigured = [:]
        event("+new-epoch", "\(currentEpoch)", now)
        event("+try-failover", "master \(configuration.masterName) \(master.address)", now)
    }

    /// `SENTINEL FAILOVER NAME`: fail over now, without agreement or election (as Redis).
    /// - Returns: nil when started, else why not (Redis's error texts).
    public mutating func forceFailover(now: Int64) -> String? {
        guard failoverState == .none else { return "INPROG Failover already in progress" }
        guard !selectableReplicas(now: now).isEmpty else { return "NOGOODSLAVE No suitable replica to promote" }
        startFailover(now: now, forced: true)
        return nil
    }

    /// Moves the failover one step when it can.
    mutating func advanceFailover(now: Int64, into actions: inout [SentinelAction]) {
        let c = configuration
        switch failoverState {
        case .none:
            return
        case .waitStart:
            guard now >= voteRequestTime else { return }
            if !failoverForced {
                let leader = epochIsCurrent ? electedLeader(epoch: failoverEpoch, now: now) : nil
                guard leader == c.runID else {
                    if now - failoverStartTime > c.electionTimeoutMilliseconds {
                        abortFailover(reason: "-failover-abort-not-elected", now: now)
                    }
                    return
                }
            }
            event("+elected-leader", "master \(c.masterName) \(master.address) epoch \(failoverEpoch)", now)
            enter(.selectReplica, now)
            fallthrough
        case .selectReplica:
            guard let chosen = selectableReplicas(now: now).first else {
                abortFailover(reason: "-failover-abort-no-good-slave", now: now)
                return
            }
            promotedReplica = chosen
            event("+selected-slave", "slave \(chosen) \(c.masterName) \(master.address)", now)
            enter(.sendReplicaOfNoOne, now)
            fallthrough
        case .sendReplicaOfNoOne:
            guard let chosen = promotedReplica else { return }
            if now - failoverStateChangeTime > c.failoverTimeoutMilliseconds {
                abortFailover(reason: "-failover-abort-slave-timeout", now: now)
                return
            }
            guard !replicaOfNoOneSent, !(replicas[chosen]?.replicaOfInFlight ?? false) else { return }
            replicas[chosen]?.replicaOfInFlight = true
            replicaOfNoOneSent = true
            event("+failover-state-send-slaveof-noone", "slave \(chosen) \(c.masterName) \(master.address)", now)
            actions.append(.replicaOf(chosen, primary: nil))
        case .waitPromotion:
            if now - failoverStateChangeTime > c.failoverTimeoutMilliseconds {
                abortFailover(reason: "-failover-abort-slave-timeout", now: now)
            }
        case .reconfigureReplicas:
            guard let promoted = promotedReplica else { return }
            for address in replicas.keys.sorted(by: Self.order) where address != promoted && reconfigured[address] == nil {
                // Only replicas that answer now; the others are fixed when they come back.
                guard replicas[address]!.subjectivelyDownSince == nil, !replicas[address]!.replicaOfInFlight else { continue }
                reconfigured[address] = .some(nil)
                replicas[address]!.replicaOfInFlight = true
                replicas[address]!.lastReconfigured = now
                event("+slave-reconf-sent", "slave \(address) \(c.masterName) \(master.address)", now)
                actions.append(.replicaOf(address, primary: promoted))
            }
            let pending = reconfigured.values.contains { $0 == nil }
            if !pending || now - failoverStateChangeTime > c.failoverTimeoutMilliseconds {
                event("+failover-end", "master \(c.masterName) \(master.address)", now)
                switchMaster(to: promoted, now: now)
                sendHellos(now: now, force: true, into: &actions)
            }
        }
    }

    /// Whether the failover's epoch is still the newest this sentinel knows: a vote counted in
    /// an older epoch elects nobody once another sentinel has started a newer one.
    var epochIsCurrent: Bool { failoverEpoch == currentEpoch }

    mutating func enter(_ state: FailoverState, _ now: Int64) {
        failoverState = state
        failoverStateChangeTime = now
    }

    /// The replicas that may be promoted, best first (Redis's `sentinelSelectSlave`): not
    /// down, answered a PING within 5 ping periods, INFO fresh, priority not 0, link to the
    /// primary not down too long; then by priority (lower first), processed offset (higher
    /// first), run ID (smaller first; none last), and address.
    public func selectableReplicas(now: Int64) -> [RedisEndpoint] {
        let c = configuration
        let infoValidity = masterSubjectivelyDown ? 5 * c.pingIntervalMilliseconds : 3 * c.infoIntervalMilliseconds
        var maxLinkDown = c.downAfterMilliseconds * 10
        if let since = master.subjectivelyDownSince { maxLinkDown += now - since }
        let candidates = replicas.values.filter { node in
            guard node.subjectivelyDownSince == nil, node.address != master.address else { return false }
            guard now - node.lastValidReply <= 5 * c.pingIntervalMilliseconds else { return false }
            guard let infoTime = node.lastInfo, now - infoTime <= infoValidity else { return false }
            guard node.info.role == .replica, node.info.priority != 0 else { return false }
            if let down = node.info.linkDownSeconds, down * 1000 > maxLinkDown { return false }
            return true
        }
        return candidates.sorted { a, b in
            if a.info.priority != b.info.priority { return a.info.priority < b.info.priority }
            if a.info.offset != b.info.offset { return a.info.offset > b.info.offset }
            switch (a.info.runID, b.info.runID) {
            case let (x?, y?) where x != y: return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return Self.order(a.address, b.address)
            }
        }.map(\.address)
    }

    /// A REPLICAOF finished.
    mutating func replicaOfFinished(_ address: RedisEndpoint, primary: RedisEndpoint?, succeeded: Bool, now: Int64) {
        if failoverState == .sendReplicaOfNoOne, primary == nil, address == promotedReplica {
            if succeeded {
                event("+failover-state-wait-promotion", "slave \(address) \(configuration.masterName) \(master.address)", now)
                enter(.waitPromotion, now)
                // Read its role at once rather than at the next INFO period.
                replicas[address]?.lastInfo = nil
            } else {
                replicaOfNoOneSent = false  // retried next tick, until the failover timeout
            }
        } else if failoverState == .reconfigureReplicas, primary == promotedReplica, reconfigured[address] != nil {
            reconfigured[address] = .some(succeeded)
            if succeeded { event("+slave-reconf-done", "slave \(address) \(configuration.masterName) \(master.address)", now) }
        }
    }

    /// The promoted replica says `role:master`: the new configuration's epoch is the failover's.
    mutating func promotionSeen(now: Int64, into actions: inout [SentinelAction]) {
        guard let promoted = promotedReplica else { return }
        configEpoch = failoverEpoch
        event("+promoted-slave", "slave \(promoted) \(configuration.masterName) \(master.address)", now)
        event("+failover-state-reconf-slaves", "master \(configuration.masterName) \(master.address)", now)
        enter(.reconfigureReplicas, now)
        sendHellos(now: now, force: true, into: &actions)
    }

    /// Ends a failover without switching (`reason` is the event to log, nil for none).
    mutating func abortFailover(reason: String?, now: Int64) {
        guard failoverState != .none else { return }
        if let reason { event(reason, "master \(configuration.masterName) \(master.address)", now) }
        failoverState = .none
        failoverStateChangeTime = now
        failoverForced = false
        promotedReplica = nil
        replicaOfNoOneSent = false
        reconfigured = [:]
    }

    /// Makes `newMaster` the monitored primary; the old primary and the other replicas become
    /// its replicas (the old one is converted when it comes back claiming to be a master).
    mutating func switchMaster(to newMaster: RedisEndpoint, now: Int64) {
        let old = master.address
        guard newMaster != old else { abortFailover(reason: nil, now: now); return }
        var known = replicas
        known.removeValue(forKey: newMaster)
        var demoted = master
        demoted.subjectivelyDownSince = nil
        demoted.pingInFlight = false
        demoted.infoInFlight = false
        demoted.lastInfo = nil
        demoted.info = NodeInfo()
        demoted.roleReportedTime = now
        if demoted.lastValidReply > now { demoted.lastValidReply = now }
        known[old] = demoted
        var promoted = replicas[newMaster] ?? MonitoredNode(address: newMaster, now: now)
        promoted.lastValidReply = now
        promoted.subjectivelyDownSince = nil
        promoted.lastInfo = nil
        promoted.roleReportedTime = now
        master = promoted
        replicas = known
        objectivelyDownSince = nil
        for address in peers.keys {
            peers[address]!.saysMasterDown = false
            peers[address]!.downReplyTime = nil
        }
        abortFailover(reason: nil, now: now)
        event("+switch-master", "\(configuration.masterName) \(old.host) \(old.port) \(newMaster.host) \(newMaster.port)", now)
    }
}
