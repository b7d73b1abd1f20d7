// Recorder counts, series routing, intervals and percentiles against known inputs.

import Histogram
import Testing
@testable import Measurement

@Suite struct OperationRecorderTests {
    @Test("latencies are recorded in nanoseconds, exactly below 2048 ns, and YCSB's whole µs round to nearest")
    func recordsNanoseconds() throws {
        var recorder = OperationRecorder()
        for nanos: UInt64 in [412, 413, 1_499, 2_047] { recorder.record(series: .read, nanos: nanos, status: .ok) }
        recorder.record(series: .update, nanos: .max, status: .ok)
        let reads = try #require(recorder.histogram(for: SeriesKey(.read)))
        let stats = LatencyStatistics(reads, percentiles: [25, 50, 75, 100])
        #expect(stats.min == 412)
        #expect(stats.percentiles.map(\.value) == [412, 413, 1_499, 2_047])
        #expect(recorder.histogram(for: SeriesKey(.update))?.max == LatencyHistogram.make().highestEquivalentForValue(LatencyHistogram.highestTrackableNanoseconds))
        #expect(LatencyUnits.wholeMicroseconds(1_499) == 1)
        #expect(LatencyUnits.wholeMicroseconds(1_500) == 2)
        #expect(LatencyUnits.wholeMicroseconds(499) == 0)
        #expect(LatencyUnits.microseconds(412) == 0.412)
    }

    @Test("values 1 to 100 ns give count, min, max, mean and percentiles of the known distribution")
    func knownPercentiles() throws {
        var recorder = OperationRecorder()
        for v in 1...100 { recorder.record(series: .read, nanos: UInt64(v), status: .ok) }
        let h = try #require(recorder.histogram(for: SeriesKey(.read)))
        let stats = LatencyStatistics(h, percentiles: [0, 50, 95, 99, 100])
        #expect(stats.count == 100)
        #expect(stats.min == 1)
        #expect(stats.max == 100)
        #expect(stats.mean == 50.5)
        #expect(stats.percentiles.map(\.value) == [1, 50, 95, 99, 100])
    }

    @Test("failed operations go to OP-FAILED while their status is counted under OP")
    func failuresRouteLikeYCSB() {
        var recorder = OperationRecorder()
        recorder.record(series: .read, nanos: 5_000, status: .ok)
        recorder.record(series: .read, nanos: 7_000, status: .notFound)
        recorder.record(series: .read, nanos: 9_000, status: .error)
        #expect(recorder.histogram(for: SeriesKey(.read))?.totalCount == 1)
        #expect(recorder.histogram(for: SeriesKey(.read, .failed))?.totalCount == 2)
        #expect(recorder.count(of: .read, status: .ok) == 1)
        #expect(recorder.count(of: .read, status: .notFound) == 1)
        #expect(recorder.count(of: .read, status: .error) == 1)
        let result = RunResult(metadata: Fixtures.metadata(), runtimeMilliseconds: 1, operations: 3, recorders: [recorder])
        #expect(result.series.map(\.name) == ["READ", "READ-FAILED"])
        #expect(result.series[0].returns == ["OK": 1, "NOT_FOUND": 1, "ERROR": 1])
        #expect(result.series[1].returns.isEmpty)
    }

    @Test("intended latency is kept only when the recorder is told a target rate is set")
    func intendedSeries() {
        var plain = OperationRecorder()
        plain.record(series: .update, nanos: 1_000, intendedNanos: 50_000, status: .ok)
        #expect(plain.histogram(for: SeriesKey(.update, .intended)) == nil)
        var targeted = OperationRecorder(recordsIntendedLatency: true)
        targeted.record(series: .update, nanos: 1_000, intendedNanos: 50_000, status: .ok)
        #expect(targeted.histogram(for: SeriesKey(.update, .intended)).map { LatencyUnits.wholeMicroseconds($0.max) } == 50)
        let names = RunResult(metadata: Fixtures.metadata(), runtimeMilliseconds: 1, operations: 1, recorders: [targeted]).series.map(\.name)
        #expect(names == ["UPDATE", "Intended-UPDATE"])
    }

    @Test("interval snapshots hold only the latest interval and the totals hold everything")
    func intervals() {
        var recorder = OperationRecorder()
        for _ in 0..<10 { recorder.record(series: .read, nanos: 2_000, status: .ok) }
        let first = recorder.takeIntervalSnapshot()
        #expect(first.series[SeriesKey(.read)]?.totalCount == 10)
        for _ in 0..<3 { recorder.record(series: .insert, nanos: 4_000, status: .ok) }
        let second = recorder.takeIntervalSnapshot()
        #expect(second.series[SeriesKey(.read)]?.totalCount == 0)
        #expect(second.series[SeriesKey(.insert)]?.totalCount == 3)
        #expect(recorder.histogram(for: SeriesKey(.read))?.totalCount == 10)
        #expect(recorder.histogram(for: SeriesKey(.insert))?.totalCount == 3)
        var merged = first
        merged.merge(second)
        #expect(merged.serviceOperationCount == 13)
    }

    @Test("reset discards warm-up measurements")
    func resetDiscards() {
        var recorder = OperationRecorder(recordsIntendedLatency: true)
        recorder.record(series: .scan, nanos: 1_000, intendedNanos: 1_000, status: .ok)
        recorder.reset()
        #expect(recorder.histogram(for: SeriesKey(.scan)) == nil)
        #expect(recorder.count(of: .scan, status: .ok) == 0)
        #expect(recorder.recordsIntendedLatency)
    }

    @Test("every series, first recorded before or after a snapshot or a reset, keeps each of its values")
    func everySeriesAcrossSnapshotsAndReset() {
        var recorder = OperationRecorder(recordsIntendedLatency: true)
        let statuses: [OperationStatus] = [.ok, .error]
        // Each series gets its first value in a different interval, then one more in the next.
        var expected: [SeriesKey: UInt64] = [:]
        for (round, kind) in OperationKind.allCases.enumerated() {
            for status in statuses {
                recorder.record(series: kind, nanos: UInt64(100 + round), intendedNanos: UInt64(200 + round), status: status)
            }
            _ = recorder.takeIntervalSnapshot()
            for status in statuses {
                recorder.record(series: kind, nanos: UInt64(100 + round), intendedNanos: UInt64(200 + round), status: status)
            }
            for variant in SeriesVariant.allCases { expected[SeriesKey(kind, variant)] = 2 }
        }
        for (key, count) in expected {
            #expect(recorder.histogram(for: key)?.totalCount == count, "\(key)")
        }
        recorder.reset()
        recorder.record(series: .read, nanos: 5, status: .ok)
        #expect(recorder.histogram(for: SeriesKey(.read))?.totalCount == 1)
        #expect(recorder.takeIntervalSnapshot().series[SeriesKey(.read)]?.totalCount == 1)
        recorder.record(series: .read, nanos: 6, status: .ok)
        #expect(recorder.histogram(for: SeriesKey(.read))?.totalCount == 2)
        #expect(recorder.histogram(for: SeriesKey(.update)) == nil)
    }

    @Test("merging recorders of several threads equals recording everything into one")
    func threadsMergeExactly() {
        var rng = Fixtures.SplitMix64(state: 42)
        var single = OperationRecorder()
        var threads = [OperationRecorder(), OperationRecorder(), OperationRecorder()]
        for i in 0..<3000 {
            let nanos = rng.latencyNanos()
            single.record(series: .read, nanos: nanos, status: .ok)
            threads[i % 3].record(series: .read, nanos: nanos, status: .ok)
        }
        let a = RunResult(metadata: Fixtures.metadata(), runtimeMilliseconds: 10, operations: 3000, recorders: [single])
        let b = RunResult(metadata: Fixtures.metadata(), runtimeMilliseconds: 10, operations: 3000, recorders: threads)
        #expect(a == b)
    }
}
