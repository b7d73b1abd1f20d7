// Group commit's parts: a queued write, the queue's lock and condition, and the periodic fsync thread.

import Foundation
import KVCore

/// A write waiting in the engine's queue. The caller's buffers stay valid because the caller
/// waits until a leader has committed it.
final class PendingWrite: @unchecked Sendable {
    enum Kind {
        case put(UnsafeRawBufferPointer, UnsafeRawBufferPointer)
        case delete(UnsafeRawBufferPointer)
        case batch(WriteBatch)
    }

    let kind: Kind
    let sync: Bool
    /// Set by the leader, under the queue's lock; the waiting caller reads them under it.
    @exclusivity(unchecked) var done = false
    @exclusivity(unchecked) var error: EngineError?
    /// For a delete: whether the key existed. Set by the leader in `commitGroup`, under the
    /// writer lock but NOT the queue's lock; the caller reads it only after it has seen `done`,
    /// which the leader writes later under the queue's lock, so that unlock and the caller's
    /// lock order the write of `existed` before the read.
    @exclusivity(unchecked) var existed = false

    init(kind: Kind, sync: Bool) {
        self.kind = kind
        self.sync = sync
    }
}

/// The `periodic` policy's thread: calls `tick` every interval until `stop()`, which waits for
/// the thread to finish (a tick in progress completes first).
final class PeriodicSyncer: @unchecked Sendable {
    private let lock = ConditionLock()
    @exclusivity(unchecked) private var stopping = false
    @exclusivity(unchecked) private var running = true

    init(intervalNanoseconds: UInt64, tick: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            lock.lock()
            while !stopping {
                lock.wait(nanoseconds: intervalNanoseconds)
                if stopping { break }
                lock.unlock()
                tick()
                lock.lock()
            }
            running = false
            lock.broadcast()
            lock.unlock()
        }
        thread.name = "btree-fsync"
        thread.start()
    }

    /// Stops the thread and waits for it; later calls return at once.
    func stop() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while running { lock.wait() }
        lock.unlock()
    }
}
