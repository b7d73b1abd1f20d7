// Epoch-based reclamation: when memory a writer unlinked can be freed under lock-free readers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Tells a writer when no reader can still hold a pointer to something it unlinked.
///
/// A global epoch and two reader counters, one per epoch parity. A reader `enter`s by counting
/// itself under the current epoch's parity (re-checking the epoch afterwards, so it never counts
/// under an epoch that has moved on without noticing) and `leave`s by uncounting. The writer
/// (one at a time, under the structure's own write lock) tags what it unlinks with the epoch it
/// unlinked it in. It may move the epoch from `e` to `e + 1` only when no reader is counted
/// under the parity of `e - 1`; at that moment every reader that entered in `e - 1` or earlier
/// has left, and readers in `e` entered after everything tagged `e - 1` was unlinked, so that
/// is free to go. Hence: a thing tagged `t` is unreachable by every reader once the epoch is
/// `t + 2`.
///
/// Nobody waits: a reader only retries its entry when the epoch moved under it, and a writer
/// that finds a reader in the way simply does not advance (its garbage waits, not its thread).
/// So a reader that stays inside for a long time (a long scan) delays reclamation, never a
/// write. `drain()` is the one waiting call, for teardown.
///
/// Sequentially consistent orderings on the epoch and the counters: a reader's increment and
/// the writer's check of the same counter form a store-load pair (Dekker), which acquire and
/// release alone do not order.
@usableFromInline
final class EpochReclaimer: @unchecked Sendable {
    @usableFromInline let epoch = Atomic<Int>(0)
    @usableFromInline let evenReaders = Atomic<Int>(0)
    @usableFromInline let oddReaders = Atomic<Int>(0)

    @usableFromInline init() {}

    /// Starts a read section; pass the result to `leave`.
    @inlinable
    func enter() -> Int {
        while true {
            let e = epoch.load(ordering: .sequentiallyConsistent)
            if e & 1 == 0 {
                evenReaders.wrappingAdd(1, ordering: .sequentiallyConsistent)
            } else {
                oddReaders.wrappingAdd(1, ordering: .sequentiallyConsistent)
            }
            if epoch.load(ordering: .sequentiallyConsistent) == e { return e }
            leave(e)
        }
    }

    /// Ends a read section started by `enter`.
    @inlinable
    func leave(_ entered: Int) {
        if entered & 1 == 0 {
            evenReaders.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        } else {
            oddReaders.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        }
    }

    /// The epoch to tag an unlinked thing with (writer only).
    @inlinable
    var current: Int { epoch.load(ordering: .relaxed) }

    /// Moves the epoch on by one if no reader of the epoch before the current one remains
    /// (writer only). `beforeAdvance` runs first, with the parity whose tagged garbage has just
    /// become free (`current - 1`), so the caller can free it.
    /// - Returns: whether the epoch moved.
    @inlinable
    func tryAdvance(_ beforeAdvance: (_ freeParity: Int) -> Void) -> Bool {
        let e = epoch.load(ordering: .relaxed)
        let parity = (e &+ 1) & 1
        let readers = parity == 0 ? evenReaders.load(ordering: .sequentiallyConsistent)
                                  : oddReaders.load(ordering: .sequentiallyConsistent)
        guard readers == 0 else { return false }
        beforeAdvance(parity)
        epoch.store(e &+ 1, ordering: .sequentiallyConsistent)
        return true
    }

    /// Waits until no reader is inside (for teardown: readers are expected to leave soon).
    func drain() {
        while evenReaders.load(ordering: .sequentiallyConsistent) != 0 || oddReaders.load(ordering: .sequentiallyConsistent) != 0 {
            sched_yield()
        }
    }
}
