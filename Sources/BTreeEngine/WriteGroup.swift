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
    /// Set by the leader, under the queue's lock.
    var done = false
    var error: EngineError?
    /// For a delete: whether the key existed.
    var existed = false

    init(kind: Kind, sync: Bool) {
        self.kind = kind
        self.sync = sync
    }
}

/// A pthread mutex with a condition variable on the monotonic clock (KVCore's `Lock` has no
/// condition; pthread rather than `Mutex` keeps ThreadSanitizer runs clean, see SWIFT-NOTES).
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits (lock held) until woken by `broadcast`.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits (lock held) until woken or `nanoseconds` passed.
    func wait(nanoseconds: UInt64) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = UInt64(now.tv_nsec) + nanoseconds
        var deadline = timespec(tv_sec: now.tv_sec + Int(total / 1_000_000_000), tv_nsec: Int(total % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    func broadcast() { pthread_cond_broadcast(condition) }
}

/// The `periodic` policy's thread: calls `tick` every interval until `stop()`, which waits for
/// the thread to finish (a tick in progress completes first).
final class PeriodicSyncer: @unchecked Sendable {
    private let lock = ConditionLock()
    private var stopping = false
    private var running = true

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
