// Votes and leaders: who may fail the primary over in an epoch.

import KVClient

extension SentinelMonitor {
    /// Answers a peer's `SENTINEL is-master-down-by-addr ip port epoch runid`.
    ///
    /// `masterDown` is this sentinel's SDOWN view of that address (only if it is the monitored
    /// primary). With a run ID other than `*`, the request is also a vote request, granted by
    /// Redis's rule: the first request of an epoch at least our current epoch gets our vote,
    /// and each sentinel votes once per epoch.
    public mutating func answerVoteRequest(_ request: SentinelVoteRequest, now: Int64) -> SentinelVoteReply {
        let known = request.master == master.address
        let down = known && masterSubjectivelyDown
        guard known, request.runID != "*" else { return SentinelVoteReply(masterDown: down, leader: nil, leaderEpoch: 0) }
        let vote = voteLeader(request.runID, epoch: request.epoch, now: now)
        return SentinelVoteReply(masterDown: down, leader: vote.leader, leaderEpoch: vote.epoch)
    }

    /// Redis's `sentinelVoteLeader`: adopt a higher epoch; vote for `candidate` if we have not
    /// voted in this epoch yet (and it is not behind ours). Returns our vote in the epoch.
    @discardableResult
    mutating func voteLeader(_ candidate: String, epoch: UInt64, now: Int64) -> (leader: String?, epoch: UInt64) {
        if epoch > currentEpoch {
            currentEpoch = epoch
            event("+new-epoch", "\(currentEpoch)", now)
        }
        if votedLeaderEpoch < epoch && currentEpoch <= epoch {
            votedLeader = candidate
            votedLeaderEpoch = currentEpoch
            event("+vote-for-leader", "\(candidate) \(votedLeaderEpoch)", now)
            // Having voted for another, do not start our own failover soon (Redis: a random
            // delay, so the sentinels do not all try at once after this one fails).
            if candidate != configuration.runID {
                failoverStartTime = now + Int64.random(in: 0...max(0, configuration.maximumStartDelayMilliseconds), using: &random)
            }
        }
        return (votedLeader, votedLeaderEpoch)
    }

    /// The sentinel elected for `epoch`, counting the votes peers reported (in that epoch) and
    /// our own, cast now if not yet: for the most voted sentinel, else for ourselves. A winner
    /// needs at least max(a majority of all sentinels, the quorum) votes; nil when nobody has them.
    mutating func electedLeader(epoch: UInt64, now: Int64) -> String? {
        var counts: [String: Int] = [:]
        for peer in peers.values {
            if let leader = peer.leader, peer.leaderEpoch == epoch { counts[leader, default: 0] += 1 }
        }
        func mostVoted() -> (String, Int)? {
            counts.max { a, b in a.value == b.value ? a.key > b.key : a.value < b.value }.map { ($0.key, $0.value) }
        }
        let ours = voteLeader(mostVoted()?.0 ?? configuration.runID, epoch: epoch, now: now)
        if let leader = ours.leader, ours.epoch == epoch { counts[leader, default: 0] += 1 }
        guard let (winner, votes) = mostVoted() else { return nil }
        let needed = max(voters / 2 + 1, configuration.quorum)
        return votes >= needed ? winner : nil
    }

    /// The votes each sentinel has in `epoch`, as far as this sentinel knows (for INFO and tests).
    public func voteCounts(epoch: UInt64) -> [String: Int] {
        var counts: [String: Int] = [:]
        for peer in peers.values {
            if let leader = peer.leader, peer.leaderEpoch == epoch { counts[leader, default: 0] += 1 }
        }
        if let leader = votedLeader, votedLeaderEpoch == epoch { counts[leader, default: 0] += 1 }
        return counts
    }
}
