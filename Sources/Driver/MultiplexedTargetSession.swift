// Sessions whose connections complete operations independently (an event loop, as memcaslap and memtier run).

import Measurement
import Workload

/// One finished operation of a `MultiplexedTargetSession`: the slot it ran in and its status.
public struct MultiplexedCompletion: Sendable, Equatable {
    public var slot: Int
    public var status: OperationStatus

    public init(slot: Int, status: OperationStatus) {
        self.slot = slot
        self.status = status
    }
}

/// A `TargetSession` over several connections with operations in flight on each: the driver
/// submits an operation to a free slot, and `poll` reports each operation as soon as its own
/// reply arrived, so that slot's next operation is sent at once (instead of planning and
/// sending a batch on every connection, then waiting for the whole batch).
///
/// Slots are `connections × pipeline`: slot `s` runs on connection `s / pipeline`, and each
/// connection keeps up to `pipeline` operations in flight (memtier's `--clients N --pipeline P`).
public protocol MultiplexedTargetSession: TargetSession {
    /// Operations that can be in flight at once.
    var slots: Int { get }
    /// Queues `operation` in the free `slot` (sent at the latest by the next `poll`); false if it cannot be multiplexed (the driver then
    /// runs it synchronously on `idleSession(forSlot:)`). Once true, the slot's completion is
    /// reported by exactly one later `poll`, success or error. The operation's buffers need not
    /// outlive the call.
    func submit(_ operation: PlannedOperation, slot: Int) -> Bool
    /// Waits until at least one operation in flight completed (at most `timeoutNanos`, nil =
    /// no limit; returns at once when nothing is in flight) and appends every completion found.
    func poll(into completions: inout [MultiplexedCompletion], timeoutNanos: UInt64?)
    /// A session running operations synchronously on `slot`'s connection, nil while that
    /// connection still has operations in flight (the driver polls until it has none).
    func idleSession(forSlot slot: Int) -> (any TargetSession)?
}
