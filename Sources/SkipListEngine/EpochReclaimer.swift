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
/// write. `waitForGracePeriod()` is the one waiting call, for teardown.
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

    /// Waits out one grace period (writer only, for teardown): when it returns, every reader
    /// that was inside when it was called has left. Readers that enter meanwhile are not waited
    /// for, so a stream of overlapping readers (or readers retrying in a loop on a closed
    /// structure) cannot hold it up: the epoch is moved twice, and each time only the parity
    /// that new readers can no longer land in is waited for. Waiting for both counters to be
    /// zero at one instant, as a plain drain would, may never happen under such a stream.
    ///
    /// A reader must not call this from inside its own read section: it would wait for itself.
    func waitForGracePeriod() {
        for _ in 0..<2 {
            let e = epoch.load(ordering: .sequentiallyConsistent)
            // Readers of e - 1 (parity of e + 1): nobody enters under it while the epoch is e.
            let staleIsEven = (e &+ 1) & 1 == 0
            while (staleIsEven ? evenReaders.load(ordering: .sequentiallyConsistent)
                               : oddReaders.load(ordering: .sequentiallyConsistent)) != 0 { sched_yield() }
            epoch.store(e &+ 1, ordering: .sequentiallyConsistent)
        }
        // The first pass waited for the readers of the epoch before the starting one, the second
        // for those of the starting epoch: every reader counted when this began has left.
    }
}
