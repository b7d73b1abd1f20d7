// Sessions that can keep several operations in flight (a RESP connection with --pipeline N).

import Measurement
import Workload

/// A `TargetSession` that can queue operations and complete them together: the driver plans
/// up to `pipelineDepth` operations, queues each, then drains them with one round trip.
public protocol PipelinedTargetSession: TargetSession {
    /// Operations to keep in flight (1 = no pipelining).
    var pipelineDepth: Int { get }
    /// Queues `operation`; false if it cannot be pipelined (the driver drains the queue and
    /// runs it with the synchronous method instead).
    func enqueue(_ operation: PlannedOperation) -> Bool
    /// Completes every queued operation, appending their statuses in queue order.
    func drain(into statuses: inout [OperationStatus])
    /// Sends the queued operations without waiting for replies (the first half of `drain`).
    func sendQueued()
    /// Reads the replies of operations already sent by `sendQueued` (the second half).
    func receiveQueued(into statuses: inout [OperationStatus])
}

extension PipelinedTargetSession {
    public func drain(into statuses: inout [OperationStatus]) {
        sendQueued()
        receiveQueued(into: &statuses)
    }
}

/// Several connections driven by one thread, as memtier_benchmark's `--clients` per thread:
/// operations fill the first session up to its pipeline depth, then the next; a drain sends on
/// every connection before reading any reply, so the connections' round trips overlap. The
/// driver then needs one OS thread per core instead of one per connection.
final class MultiplexedSession: PipelinedTargetSession {
    let sessions: [any PipelinedTargetSession]
    let perSession: Int
    let pipelineDepth: Int
    private var queued = 0

    init(_ sessions: [any PipelinedTargetSession]) {
        self.sessions = sessions
        perSession = sessions[0].pipelineDepth
        pipelineDepth = perSession * sessions.count
    }

    func enqueue(_ operation: PlannedOperation) -> Bool {
        guard sessions[queued / perSession].enqueue(operation) else { return false }
        queued += 1
        return true
    }

    func sendQueued() {
        for session in sessions.prefix((queued + perSession - 1) / perSession) { session.sendQueued() }
    }

    func receiveQueued(into statuses: inout [OperationStatus]) {
        for session in sessions.prefix((queued + perSession - 1) / perSession) { session.receiveQueued(into: &statuses) }
        queued = 0
    }

    // Operations that cannot be pipelined run on the first connection.
    func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus { sessions[0].read(operation, verifier: verifier) }
    func update(_ operation: PlannedOperation) -> OperationStatus { sessions[0].update(operation) }
    func insert(_ operation: PlannedOperation) -> OperationStatus { sessions[0].insert(operation) }
    func scan(_ operation: PlannedOperation) -> OperationStatus { sessions[0].scan(operation) }
    func delete(_ operation: PlannedOperation) -> OperationStatus { sessions[0].delete(operation) }
    func close() { for session in sessions { session.close() } }
}
