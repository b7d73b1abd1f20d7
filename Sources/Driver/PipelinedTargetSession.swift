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
}
