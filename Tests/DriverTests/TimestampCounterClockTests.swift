// The TSC clock: its arithmetic, when it may be used, and that it agrees with CLOCK_MONOTONIC.

#if canImport(Glibc)
import Glibc
#endif
import Driver
import Foundation
import KVCore
import KVEngines
import Measurement
import Testing
import Workload

@Suite("TSC clock")
struct TimestampCounterClockTests {
    static let flags = "flags\t\t: fpu tsc rdtscp constant_tsc nonstop_tsc tsc_known_freq sse2\n"

    func sleep(nanoseconds: Int) {
        var request = timespec(tv_sec: nanoseconds / 1_000_000_000, tv_nsec: nanoseconds % 1_000_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 { request = remaining }
    }

    @Test("a reading is the anchor plus the ticks since it times the fixed-point rate, never before the anchor")
    func fixedPointArithmetic() {
        // 0.5 ns per tick (2^31 / 2^32), anchored at 1 s.
        let clock = TimestampCounterClock(anchorNanoseconds: 1_000_000_000, anchorTicks: 5_000, scaledNanosecondsPerTick: 1 << 31,
                                          relativeUncertainty: 0, anchorUncertaintyNanoseconds: 0)
        #expect(clock.nanoseconds(ticks: 5_000) == 1_000_000_000)
        #expect(clock.nanoseconds(ticks: 6_000) == 1_000_000_500)
        #expect(clock.nanoseconds(ticks: 4_000) == 1_000_000_000, "ticks before the anchor read as the anchor")
        // 2^40 ticks: the 128-bit product keeps every bit (2^39 ns later).
        #expect(clock.nanoseconds(ticks: 5_000 + (1 << 40)) == 1_000_000_000 + (1 << 39))
        // 0.4 ns per tick (a 2.5 GHz counter), rounded to the fixed point: 10^9 ticks = 0.4 s within 1 ns.
        let scaled = UInt64((0.4 * 0x1p32).rounded())
        let rated = TimestampCounterClock(anchorNanoseconds: 0, anchorTicks: 0, scaledNanosecondsPerTick: scaled,
                                          relativeUncertainty: 0, anchorUncertaintyNanoseconds: 0)
        let reading = rated.nanoseconds(ticks: 1_000_000_000)
        #expect(reading >= 399_999_999 && reading <= 400_000_000, "got \(reading)")
    }

    @Test("the counter is used only where the kernel keeps time with it and the CPU flags say it is reliable")
    func availabilityRules() {
        #expect(TimestampCounterClock.unavailableReason(clocksource: "tsc\n", cpuinfo: Self.flags + Self.flags) == nil)
        let otherSource = TimestampCounterClock.unavailableReason(clocksource: "kvm-clock\n", cpuinfo: Self.flags)
        #expect(otherSource?.contains("kvm-clock") == true, "\(otherSource ?? "nil")")
        #expect(TimestampCounterClock.unavailableReason(clocksource: nil, cpuinfo: Self.flags)?.contains("current_clocksource") == true)
        for missing in ["constant_tsc", "nonstop_tsc", "tsc_known_freq"] {
            let lacking = Self.flags.replacingOccurrences(of: " \(missing)", with: "")
            let reason = TimestampCounterClock.unavailableReason(clocksource: "tsc", cpuinfo: Self.flags + lacking)
            #expect(reason?.contains(missing) == true, "one processor without \(missing): \(reason ?? "nil")")
        }
        #expect(TimestampCounterClock.unavailableReason(clocksource: "tsc", cpuinfo: "processor : 0\n") != nil)
        #expect(TimestampCounterClock.unavailableReason(clocksource: "tsc", cpuinfo: nil) != nil)
    }

    @Test("--clock auto gives the TSC clock exactly where it is reliable, monotonic gives CLOCK_MONOTONIC")
    func clockChoice() throws {
        #expect(try DriverClockChoice.monotonic.makeClock() is SystemMonotonicClock)
        let reliable = TimestampCounterClock.unavailableReason() == nil
        #expect(try DriverClockChoice.auto.makeClock() is TimestampCounterClock == reliable)
        if reliable {
            #expect(try DriverClockChoice.tsc.makeClock() is TimestampCounterClock)
        } else {
            #expect(throws: DriverError.self) { try DriverClockChoice.tsc.makeClock() }
        }
    }

    @Test("TSC readings agree with CLOCK_MONOTONIC over a sleep within the calibration's bound")
    func agreesWithMonotonicOverSleep() throws {
        let clock = try TimestampCounterClock.calibrated(window: 10_000_000)
        let reference = SystemMonotonicClock()
        #expect(clock.relativeUncertainty < 1e-3, "calibration uncertainty \(clock.relativeUncertainty)")
        for pause in [1_000_000, 20_000_000, 50_000_000] {
            sleep(nanoseconds: pause)
            let before = reference.nanoseconds()
            let reading = clock.nanoseconds()
            let after = reference.nanoseconds()
            // The reading happened between `before` and `after`; the clock may be off by its own bound.
            let bound = clock.maximumDeviation(after: after - clock.anchorNanoseconds)
            #expect(reading + bound >= before && reading <= after + bound,
                    "after \(pause) ns: TSC \(reading), monotonic [\(before), \(after)], bound \(bound) ns, rate uncertainty \(clock.relativeUncertainty)")
        }
    }

    @Test("an interval timed by the TSC clock matches CLOCK_MONOTONIC's for a known delay")
    func intervalsMatchMonotonic() throws {
        let clock = try TimestampCounterClock.calibrated(window: 10_000_000)
        let reference = SystemMonotonicClock()
        for delay in [200_000, 2_000_000, 5_000_000] {
            // m0 ≤ start ≤ m1 and m2 ≤ end ≤ m3, so the TSC interval lies in [m2 - m1, m3 - m0],
            // widened by the rate's uncertainty over it and 2 ns of rounding.
            let m0 = reference.nanoseconds()
            let start = clock.intervalStartNanoseconds()
            let m1 = reference.nanoseconds()
            sleep(nanoseconds: delay)
            let m2 = reference.nanoseconds()
            let end = clock.nanoseconds()
            let m3 = reference.nanoseconds()
            let interval = end - start
            let slack = UInt64((clock.relativeUncertainty * Double(m3 - m0)).rounded(.up)) + 2
            #expect(interval >= UInt64(delay) - slack)
            #expect(interval + slack >= m2 - m1 && interval <= m3 - m0 + slack,
                    "TSC interval \(interval) ns, monotonic between \(m2 - m1) and \(m3 - m0) ns (slack \(slack))")
        }
    }

    @Test("a driver run timed by the TSC clock records every operation with plausible latencies")
    func driverRunOnTheCounter() throws {
        let configuration = try workloadConfiguration("workloada", ["recordcount=100", "operationcount=5000", "threadcount=1"])
        let target = InProcessTarget(engine: try StandardEngines.registry.open("hash"))
        let clock = try TimestampCounterClock.calibrated(window: 5_000_000)
        _ = try Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                       configuration: DriverConfiguration(phase: .load, workload: configuration), clock: clock).run(metadata: metadata(.load))
        let before = SystemMonotonicClock().nanoseconds()
        let result = try Driver(workload: try CoreWorkload(configuration: configuration), target: target,
                                configuration: DriverConfiguration(phase: .run, workload: configuration), clock: clock)
            .run(metadata: metadata(.run)).result
        let elapsed = SystemMonotonicClock().nanoseconds() - before
        #expect(result.operations == 5_000)
        let recorded = result.series.filter { $0.name == "READ" || $0.name == "UPDATE" }
        #expect(recorded.reduce(0) { $0 + $1.operations } == 5_000)
        for series in recorded {
            // Every latency is inside the run, as CLOCK_MONOTONIC saw it.
            #expect(series.histogram.max <= elapsed, "\(series.name) max \(series.histogram.max) ns over a \(elapsed) ns run")
            #expect(series.histogram.min > 0, "\(series.name) has a zero latency")
        }
        #expect(UInt64(result.runtimeMilliseconds) <= elapsed / 1_000_000 + 1)
    }
}
