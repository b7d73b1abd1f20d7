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
    /// no limit but the session's own I/O timeout; returns at once when nothing is in flight) and
    /// appends every completion found. A wait cut short by `timeoutNanos` (the run's deadline, a
    /// status interval, a pacing tick) fails nothing: only the I/O timeout, counted from each
    /// connection's own last progress, fails a connection.
    func poll(into completions: inout [MultiplexedCompletion], timeoutNanos: UInt64?)
    /// A session running operations synchronously on `slot`'s connection, nil while that
    /// connection still has operations in flight (the driver polls until it has none).
    func idleSession(forSlot slot: Int) -> (any TargetSession)?
    /// Nanoseconds until `slot` may take an operation (0: now). A slot whose connection is
    /// backing off after a failure gets no work until it may reconnect: the driver waits for it
    /// alongside the other slots' replies, so a dead server costs each connection one failed
    /// operation per backoff (as the synchronous RESP session), neither a sleep that holds the
    /// thread's other connections nor a tight loop of errors.
    func nanosecondsUntilReady(slot: Int) -> UInt64
    /// Fails every operation still in flight, each reported once as `.error`, and drops the
    /// connections they were on (a late reply is never read): the end of a run whose time is up.
    func abandonInFlight(into completions: inout [MultiplexedCompletion])
    /// Bounds the blocking waits of the synchronous operations run on `idleSession(forSlot:)` to
    /// `nanoseconds` from now (nil: the I/O timeout alone), so a stalled server cannot hold a
    /// time-limited run past its end.
    func limitSynchronousWaits(toNanoseconds nanoseconds: UInt64?)
}

extension MultiplexedTargetSession {
    /// Sessions without reconnection backoff: every slot is always ready.
    public func nanosecondsUntilReady(slot: Int) -> UInt64 { 0 }
    /// Sessions whose `poll` always completes what is in flight need not abandon anything.
    public func abandonInFlight(into completions: inout [MultiplexedCompletion]) {}
    /// Sessions that never block past their own timeouts ignore the bound.
    public func limitSynchronousWaits(toNanoseconds nanoseconds: UInt64?) {}
}
