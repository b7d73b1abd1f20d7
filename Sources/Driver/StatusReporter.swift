// The `-s` status thread: every status.interval it merges the threads' interval histograms.

import Foundation
import KVCore
import Measurement
import Synchronization

final class StatusReporter: @unchecked Sendable {
    let driver: Driver
    let shared: SharedRunState
    let start: UInt64
    let totalOperations: Int64
    let onEvent: @Sendable (DriverEvent) -> Void
    private let finished = DispatchSemaphore(value: 0)
    private let done = Atomic<Bool>(false)
    private var thread: Thread?
    private var lastReport: UInt64
    /// Every interval's histograms, when the driver keeps an interval log (read after `stop()`).
    private(set) var intervals: [SeriesIntervals] = []
    /// Series seen in any earlier interval: shown with `Count=0` when no thread handed over an interval
    /// in time (a descheduled thread on a loaded machine), as YCSB keeps printing every series it has.
    private var seenSeries: Set<SeriesKey> = []

    init(driver: Driver, shared: SharedRunState, start: UInt64, totalOperations: Int64,
         onEvent: @escaping @Sendable (DriverEvent) -> Void) {
        self.driver = driver
        self.shared = shared
        self.start = start
        self.totalOperations = totalOperations
        self.onEvent = onEvent
        lastReport = start
    }

    func begin() {
        let thread = Thread { [self] in loop() }
        self.thread = thread
        thread.start()
    }

    /// Stops the thread after one last line, and waits for it.
    func stop() {
        done.store(true, ordering: .sequentiallyConsistent)
        finished.wait()
    }

    private func loop() {
        let interval = UInt64(driver.configuration.statusIntervalSeconds * 1e9)
        var next = start + interval
        while !done.load(ordering: .sequentiallyConsistent) {
            // Report a little after each boundary, so threads have handed over their intervals.
            let wakeAt = next + 20_000_000
            while !done.load(ordering: .sequentiallyConsistent) && driver.clock.nanoseconds() < wakeAt {
                let remaining = wakeAt - min(wakeAt, driver.clock.nanoseconds())
                usleep(UInt32(min(remaining / 1000, 50_000)))
            }
            if done.load(ordering: .sequentiallyConsistent) { break }
            report()
            next += interval
        }
        report()
        finished.signal()
    }

    private func report() {
        let now = driver.clock.nanoseconds()
        // The count and the histograms together, under the lock each thread publishes both under:
        // read apart, a line could show "5395 operations" without any series bracket, or histograms
        // holding 1905 operations beside a count of 1730 (both seen on a loaded machine).
        var (snapshot, completed) = shared.pendingSnapshot.withLock { pending in
            let taken = pending
            pending = IntervalSnapshot()
            return (taken, shared.completed.load(ordering: .relaxed))
        }
        var idle = snapshot.series
        idle.removeAll()
        for key in seenSeries where snapshot.series[key] == nil { idle[key] = LatencyHistogram.make() }
        snapshot.merge(IntervalSnapshot(series: idle))
        seenSeries.formUnion(snapshot.series.keys)
        let remaining = totalOperations > 0 ? UInt64(max(0, totalOperations - Int64(completed))) : 0
        if driver.configuration.recordsIntervalLog {
            intervals.append(SeriesIntervals(startSeconds: Double(lastReport - start) / 1e9, endSeconds: Double(now - start) / 1e9,
                                             snapshot: snapshot))
        }
        guard driver.configuration.status else {
            lastReport = now
            return
        }
        let line = StatusLine.format(now: driver.wallClock(), elapsedMilliseconds: (now - start) / 1_000_000,
                                     totalOperations: completed, intervalOperations: snapshot.serviceOperationCount,
                                     intervalMilliseconds: (now - lastReport) / 1_000_000,
                                     remainingOperations: remaining, snapshot: snapshot,
                                     label: driver.workload.configuration.label)
        lastReport = now
        onEvent(.status(line))
    }
}
