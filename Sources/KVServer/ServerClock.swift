// Wall-clock time for expiry deadlines and uptime, passed in so tests and a simulator can set it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A source of wall-clock time in milliseconds since the Unix epoch (expiry deadlines are
/// stored as such, so they survive a restart of a persistent engine).
public protocol WallClock: Sendable {
    func millisecondsSinceEpoch() -> Int64
}

/// The system's `CLOCK_REALTIME`.
public struct SystemWallClock: WallClock {
    public init() {}
    public func millisecondsSinceEpoch() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A clock that moves only when told to (tests of expiry).
public final class ManualWallClock: WallClock {
    private let now: Atomic<Int64>
    public init(milliseconds: Int64 = 1_700_000_000_000) { now = Atomic(milliseconds) }
    public func millisecondsSinceEpoch() -> Int64 { now.load(ordering: .relaxed) }
    /// Moves the clock forward by `milliseconds`.
    public func advance(by milliseconds: Int64) { now.add(milliseconds, ordering: .relaxed) }
}
