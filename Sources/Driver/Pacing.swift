// Waiting for an operation's scheduled start without spinning a core, through a clock a test can replace.

import Foundation
import KVCore

/// A monotonic clock that can also wait until a time on itself.
///
/// The driver paces operations through this when its clock conforms, so a test clock can jump
/// to the deadline (deterministic, no real sleeping) while the system clock parks the thread.
/// Clocks that do not conform are waited on with `nanosleep`, re-reading the clock after each wake-up.
public protocol SleepingClock: MonotonicClock {
    /// Returns once `nanoseconds()` has reached `deadline` (at once if it already has).
    func sleep(until deadline: UInt64)
}

/// The operating system's monotonic clock, waiting with `nanosleep` (YCSB's `LockSupport.parkNanos`).
public struct SystemSleepingClock: SleepingClock {
    let clock = SystemMonotonicClock()
    public init() {}
    public func nanoseconds() -> UInt64 { clock.nanoseconds() }
    public func sleep(until deadline: UInt64) { Pacing.osSleep(until: deadline, clock: clock) }
}

/// Waiting for an operation's scheduled start.
///
/// The wait is one OS sleep for the whole remaining time — no spinning. Linux may wake the thread up
/// to its timer slack (50 µs) plus scheduling delay late; that lateness is charged to the operation's
/// intended latency (it starts late against its schedule), which is what a client on a loaded machine
/// really sees. The earlier version spun the last 120 µs of every wait: at `-target 1000` on one thread
/// that took ~12% of a core from the store under test on a 2-core machine.
enum Pacing {
    /// Waits until `deadline` on `clock`: through the clock itself when it can sleep (`sleeper`),
    /// else with `nanosleep`.
    @inline(__always)
    static func sleep(until deadline: UInt64, clock: any MonotonicClock, sleeper: (any SleepingClock)?) {
        if let sleeper {
            sleeper.sleep(until: deadline)
        } else {
            osSleep(until: deadline, clock: clock)
        }
    }

    /// `nanosleep` for the remaining time, again after an early wake-up (a signal), never a spin.
    static func osSleep(until deadline: UInt64, clock: any MonotonicClock) {
        var now = clock.nanoseconds()
        while now < deadline {
            let nanos = Int(deadline - now)
            var request = timespec(tv_sec: nanos / 1_000_000_000, tv_nsec: nanos % 1_000_000_000)
            nanosleep(&request, nil)
            now = clock.nanoseconds()
        }
    }
}

/// YCSB's start spreading (ClientThread): when a thread's own share of the target is at most one operation
/// per millisecond, it first sleeps a random time in `0..<tick`, so the threads' schedules interleave
/// instead of every thread firing at the same instant. Faster threads start at once, as in YCSB (whose
/// `Random.nextInt` would need a tick of at least 1 ns and whose comment says sub-millisecond spreading
/// makes no sense).
public enum ThreadStartSpread {
    /// The first per-thread tick (ns between a thread's operations) that gets a random initial delay.
    public static let minimumTickNanos: Double = 1_000_000

    /// The initial delay in nanoseconds of a thread with this tick, drawn from `random`.
    /// - Parameters:
    ///   - tickNanos: Nanoseconds between the thread's scheduled operations (0 = unthrottled).
    ///   - random: The thread's seeded generator.
    /// - Returns: 0 when unthrottled or faster than one operation per millisecond, else a value in `0..<tickNanos`.
    public static func initialDelay(tickNanos: Double, random: inout SeededRandom) -> UInt64 {
        guard tickNanos >= minimumTickNanos, tickNanos < Double(UInt64.max) else { return 0 }
        return random.next(below: UInt64(tickNanos))
    }

    /// The seed of thread `index`'s start-delay generator, derived from the workload seed (apart from
    /// the operation stream's generator, so spreading starts does not change the operations chosen).
    public static func seed(workloadSeed: UInt64, thread index: Int) -> UInt64 {
        (workloadSeed ^ 0x5354_4152_5444_4C59) &+ (UInt64(truncatingIfNeeded: index) &+ 1) &* 0xD1B5_4A32_D192_ED03
    }
}
