// appendfsync always at Redis's cost: one fsync per event-loop turn for every connection that wrote in it, before any of their replies.

import NIOCore

/// The connections of one event loop whose replies wait for the turn's fsync.
///
/// Redis under `appendfsync always` fsyncs once per event-loop turn (in `beforeSleep`), after
/// executing every ready client's commands and before writing any reply, so 50 clients sending
/// one SET each share one fsync. Here the same: a connection whose read wrote hands its replies
/// to its loop's barrier instead of sending them; the first one in a turn schedules a task, and
/// NIO runs tasks after the turn's reads, so the task's one `durabilityBarrier` covers them all,
/// then sends every reply. Used only on its own event loop, so it needs no lock.
final class ReplyBarrier: @unchecked Sendable {
    // @unchecked: every access happens on `eventLoop` (asserted), the handlers' own thread.
    let eventLoop: any EventLoop
    let executor: CommandExecutor
    private var waiting: [RESPConnectionHandler] = []
    private var scheduled = false

    init(eventLoop: any EventLoop, executor: CommandExecutor) {
        self.eventLoop = eventLoop
        self.executor = executor
    }

    /// One barrier per event loop of `group`, by loop identity.
    static func perLoop(_ group: any EventLoopGroup, executor: CommandExecutor) -> [ObjectIdentifier: ReplyBarrier] {
        guard executor.persistence.fsyncBeforeReply else { return [:] }
        var barriers: [ObjectIdentifier: ReplyBarrier] = [:]
        for loop in group.makeIterator() { barriers[ObjectIdentifier(loop)] = ReplyBarrier(eventLoop: loop, executor: executor) }
        return barriers
    }

    /// Holds `handler`'s replies until this turn's fsync.
    func enqueue(_ handler: RESPConnectionHandler) {
        eventLoop.preconditionInEventLoop()
        waiting.append(handler)
        guard !scheduled else { return }
        scheduled = true
        eventLoop.execute { self.run() }
    }

    private func run() {
        scheduled = false
        let handlers = waiting
        waiting.removeAll(keepingCapacity: true)
        let writes = handlers.reduce(0) { $0 + $1.state.unsyncedWriteCommands }
        let failure = writes > 0 ? executor.durabilityBarrier(writeCommands: writes) : nil
        for handler in handlers { handler.repliesDurable(barrierFailure: failure) }
    }
}
