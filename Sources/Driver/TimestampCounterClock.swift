// A monotonic clock read from the x86-64 time-stamp counter, calibrated against CLOCK_MONOTONIC.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CTimestampCounter
import Foundation
import KVCore

/// Monotonic nanoseconds from the time-stamp counter (LFENCE; RDTSC), scaled by a calibration
/// against `CLOCK_MONOTONIC`: `ns = anchor + (tsc - anchorTicks) × scale`.
///
/// Why: the driver reads the clock twice per operation. On this project's VM a
/// `clock_gettime(CLOCK_MONOTONIC)` costs ~57 ns (the vDSO's RDTSCP, its sequence lock and the
/// timespec conversion), LFENCE; RDTSC ~45 ns (measured back to back, results/read-paths-driver18d.md).
/// High-rate load generators read the counter themselves for this reason.
///
/// When it is honest: only where the kernel itself keeps time with the TSC (current clocksource
/// `tsc`) and the CPU says the counter runs at a constant rate in every power state and its
/// frequency is known (`constant_tsc`, `nonstop_tsc`, `tsc_known_freq`); ``unavailableReason()``
/// checks exactly that, and the CLI falls back to ``SystemMonotonicClock`` otherwise. The read is
/// ordered as the kernel's own (every earlier instruction completes before the counter is read),
/// so an operation's end time is taken after its work, as before; an operation's start may use the
/// cheaper unfenced read (``intervalStartNanoseconds()``).
///
/// Accuracy: the scale is the slope between two (CLOCK_MONOTONIC, TSC) pairs `window` apart, each
/// pair bracketed by two monotonic reads; ``relativeUncertainty`` and
/// ``anchorUncertaintyNanoseconds`` bound how far a reading can be from CLOCK_MONOTONIC:
/// ``maximumDeviation(after:)``. A latency of a few µs is off by far less than a nanosecond.
public struct TimestampCounterClock: MonotonicClock {
    /// CLOCK_MONOTONIC at the anchor (the second calibration pair), in nanoseconds.
    public let anchorNanoseconds: UInt64
    /// The counter at the anchor.
    public let anchorTicks: UInt64
    /// Nanoseconds per tick, times 2^32 (fixed point: one multiply and a shift per read).
    public let scaledNanosecondsPerTick: UInt64
    /// How far the calibrated rate may be from CLOCK_MONOTONIC's (a fraction: 1e-5 = 10 ppm).
    public let relativeUncertainty: Double
    /// How far the anchor may be from CLOCK_MONOTONIC (half its bracket), in nanoseconds.
    public let anchorUncertaintyNanoseconds: UInt64

    /// A clock with a given calibration (tests build exact ones; ``calibrated(window:)`` measures one).
    public init(anchorNanoseconds: UInt64, anchorTicks: UInt64, scaledNanosecondsPerTick: UInt64,
                relativeUncertainty: Double, anchorUncertaintyNanoseconds: UInt64) {
        self.anchorNanoseconds = anchorNanoseconds
        self.anchorTicks = anchorTicks
        self.scaledNanosecondsPerTick = scaledNanosecondsPerTick
        self.relativeUncertainty = relativeUncertainty
        self.anchorUncertaintyNanoseconds = anchorUncertaintyNanoseconds
    }

    public func nanoseconds() -> UInt64 { nanoseconds(ticks: kvlab_tsc_ordered()) }

    /// A reading for the start of an interval whose end is read with ``nanoseconds()``: the counter
    /// without the fence (RDTSC alone, about half the cost here). Work issued before it may still be
    /// in flight when the counter is read, which can only lengthen the interval measured up to the
    /// fenced end reading; work after it may start before the read, as after CLOCK_MONOTONIC's
    /// RDTSCP. Never use it for an interval's end.
    @inline(__always)
    public func intervalStartNanoseconds() -> UInt64 { nanoseconds(ticks: kvlab_tsc_unordered()) }

    /// The reading for a counter value; ticks before the anchor (another core's counter a few
    /// ticks behind) read as the anchor, so the clock never runs backwards past it.
    @inline(__always)
    public func nanoseconds(ticks: UInt64) -> UInt64 {
        let delta = ticks > anchorTicks ? ticks &- anchorTicks : 0
        let product = delta.multipliedFullWidth(by: scaledNanosecondsPerTick)
        return anchorNanoseconds &+ (product.high << 32 | product.low >> 32)
    }

    /// The largest difference from CLOCK_MONOTONIC a reading may have `elapsed` nanoseconds after
    /// the anchor: the anchor's own uncertainty, the rate's over that time, and 1 ns of rounding.
    public func maximumDeviation(after elapsed: UInt64) -> UInt64 {
        anchorUncertaintyNanoseconds + UInt64((relativeUncertainty * Double(elapsed)).rounded(.up)) + 1
    }

    /// Measures the counter's rate against CLOCK_MONOTONIC over `window` nanoseconds (the thread
    /// sleeps meanwhile). Each pair is the narrowest of five brackets (monotonic, counter, monotonic).
    /// - Throws: ``DriverError/clockUnavailable(_:)`` where this build cannot read the counter or
    ///   the counter did not advance.
    public static func calibrated(window: UInt64 = 20_000_000) throws(DriverError) -> TimestampCounterClock {
        guard kvlab_tsc_available() != 0 else { throw .clockUnavailable("this build has no time-stamp counter (x86-64 only)") }
        let reference = SystemMonotonicClock()
        func pair() -> (nanoseconds: UInt64, half: UInt64, ticks: UInt64) {
            var best: (UInt64, UInt64, UInt64) = (0, UInt64.max, 0)
            for _ in 0..<5 {
                let before = reference.nanoseconds()
                let ticks = kvlab_tsc_ordered()
                let after = reference.nanoseconds()
                let half = (after - before + 1) / 2
                if half < best.1 { best = (before + (after - before) / 2, half, ticks) }
            }
            return best
        }
        let first = pair()
        // Sleeps the whole window even if a signal interrupts it (the remaining time is slept again).
        var request = timespec(tv_sec: Int(window / 1_000_000_000), tv_nsec: Int(window % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 { request = remaining }
        let second = pair()
        guard second.ticks > first.ticks, second.nanoseconds > first.nanoseconds else {
            throw .clockUnavailable("the time-stamp counter did not advance over \(window) ns of CLOCK_MONOTONIC")
        }
        let elapsed = Double(second.nanoseconds - first.nanoseconds)
        let perTick = elapsed / Double(second.ticks - first.ticks)
        let scaled = (perTick * 0x1p32).rounded()
        guard scaled >= 1, scaled < 0x1p63 else {
            throw .clockUnavailable("time-stamp counter rate \(1 / perTick) ticks/ns is out of range")
        }
        // The slope's error: both pairs' brackets over the window, plus the fixed point's rounding.
        let uncertainty = Double(first.half + second.half) / elapsed + 1 / scaled
        return TimestampCounterClock(anchorNanoseconds: second.nanoseconds, anchorTicks: second.ticks,
                                     scaledNanosecondsPerTick: UInt64(scaled), relativeUncertainty: uncertainty,
                                     anchorUncertaintyNanoseconds: second.half)
    }

    /// Why the counter must not be used as the clock here, or nil when it may: the kernel's current
    /// clocksource must be `tsc` and the CPU flags must include `constant_tsc`, `nonstop_tsc` and
    /// `tsc_known_freq`.
    /// - Parameters:
    ///   - clocksource: the content of the kernel's `current_clocksource` file (nil: unreadable).
    ///   - cpuinfo: the content of `/proc/cpuinfo` (nil: unreadable).
    public static func unavailableReason(clocksource: String?, cpuinfo: String?) -> String? {
        guard kvlab_tsc_available() != 0 else { return "this build has no time-stamp counter (x86-64 only)" }
        guard let clocksource else { return "\(clocksourcePath) is unreadable" }
        let source = clocksource.trimmingCharacters(in: .whitespacesAndNewlines)
        guard source == "tsc" else { return "the kernel's clocksource is '\(source)', not tsc (\(clocksourcePath))" }
        guard let cpuinfo else { return "\(cpuinfoPath) is unreadable" }
        // Every processor's flags line must have them (a mixed system would not be synchronized).
        let flagLines = cpuinfo.split(separator: "\n").filter { $0.hasPrefix("flags") }
        guard !flagLines.isEmpty else { return "\(cpuinfoPath) has no flags line" }
        for line in flagLines {
            let flags = Set(line.split(separator: ":", maxSplits: 1).last.map { $0.split(separator: " ").map(String.init) } ?? [])
            for needed in requiredFlags where !flags.contains(needed) {
                return "the CPU flags lack \(needed) (\(cpuinfoPath))"
            }
        }
        return nil
    }

    /// ``unavailableReason(clocksource:cpuinfo:)`` for this machine, reading both files once.
    public static func unavailableReason() -> String? {
        unavailableReason(clocksource: try? String(contentsOfFile: clocksourcePath, encoding: .utf8),
                          cpuinfo: try? String(contentsOfFile: cpuinfoPath, encoding: .utf8))
    }

    static let clocksourcePath = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
    static let cpuinfoPath = "/proc/cpuinfo"
    static let requiredFlags = ["constant_tsc", "nonstop_tsc", "tsc_known_freq"]
}

/// Which monotonic clock times a run's operations (`kvlab run --clock`).
public enum DriverClockChoice: String, CaseIterable, Sendable {
    /// The time-stamp counter where ``TimestampCounterClock/unavailableReason()`` allows it, else CLOCK_MONOTONIC.
    case auto
    /// The time-stamp counter; an error where it is not reliable.
    case tsc
    /// `clock_gettime(CLOCK_MONOTONIC)`, the clock before the TSC clock existed.
    case monotonic

    /// The clock this choice gives on this machine, calibrating the counter when it is used.
    /// - Throws: ``DriverError/clockUnavailable(_:)`` for `tsc` where the counter is not reliable.
    public func makeClock() throws(DriverError) -> any MonotonicClock {
        switch self {
        case .monotonic:
            return SystemMonotonicClock()
        case .tsc:
            if let reason = TimestampCounterClock.unavailableReason() { throw .clockUnavailable(reason) }
            return try TimestampCounterClock.calibrated()
        case .auto:
            guard TimestampCounterClock.unavailableReason() == nil,
                  let clock = try? TimestampCounterClock.calibrated() else { return SystemMonotonicClock() }
            return clock
        }
    }
}
