// The recorder's raw tallies against HdrHistogram itself: same buckets, same histograms, value semantics kept.

import Foundation
import Histogram
import Testing
@testable import Measurement

@Suite struct RawTalliesRecorderTests {
    /// KVLAB_SEED if set, else `fallback`; printed so a failure replays.
    static func seed(_ fallback: UInt64, _ name: String = #function) -> UInt64 {
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap { UInt64($0) } ?? fallback
        print("\(name): seed=\(seed)")
        return seed
    }

    /// Latencies of every magnitude up to the highest trackable: 0, exact small values, and random
    /// values of a random bit width.
    static func latencies(seed: UInt64, count: Int) -> [UInt64] {
        var rng = Fixtures.SplitMix64(state: seed)
        var values: [UInt64] = [0, 1, 2047, 2048, 2049, 4095, 4096, LatencyHistogram.highestTrackableNanoseconds]
        for _ in 0..<count {
            let bits = rng.next() % 43
            // Clamped as the recorder clamps (values above one hour are recorded as one hour).
            values.append(LatencyHistogram.clamped(nanoseconds: bits == 0 ? 0 : rng.next() & ((1 << bits) - 1)))
        }
        return values
    }

    @Test("the raw bucket index and its lowest value agree with HdrHistogram's layout for every tested value")
    func indexMatchesHistogram() {
        let reference = LatencyHistogram.make()
        var values = Array(UInt64(0)..<5000)
        values += Self.latencies(seed: Self.seed(18_100), count: 50_000)
        for v in values {
            let index = RawLatencyTallies.index(of: v)
            #expect(index >= 0 && index < RawLatencyTallies.countsPerSeries, "v = \(v)")
            #expect(RawLatencyTallies.lowestValue(atIndex: index) == reference.lowestEquivalentForValue(v), "v = \(v)")
        }
        #expect(RawLatencyTallies.index(of: LatencyHistogram.highestTrackableNanoseconds) == RawLatencyTallies.countsPerSeries - 1)
    }

    @Test("recording through the recorder gives the histogram, min, max, mean and percentiles of recording directly, per interval and in total")
    func recorderEqualsDirectHistogram() throws {
        let values = Self.latencies(seed: Self.seed(18_101), count: 20_000)
        var recorder = OperationRecorder()
        var direct = [LatencyHistogram.make(), LatencyHistogram.make()]
        var total = LatencyHistogram.make()
        var snapshots: [IntervalSnapshot] = []
        for (i, v) in values.enumerated() {
            recorder.record(series: .read, nanos: v, status: .ok)
            direct[snapshots.count].record(v)
            total.record(v)
            if i == values.count / 2 { snapshots.append(recorder.takeIntervalSnapshot()) }
        }
        // Totals with the second interval still pending in the raw tallies.
        let pending = try #require(recorder.histogram(for: SeriesKey(.read)))
        snapshots.append(recorder.takeIntervalSnapshot())
        let folded = try #require(recorder.histogram(for: SeriesKey(.read)))
        for got in [pending, folded] {
            #expect(got == total)
            #expect(got.min == total.min && got.max == total.max && got.totalCount == total.totalCount)
            #expect(got.mean == total.mean)
            let p: [Double] = [0, 50, 90, 99, 99.9, 100]
            #expect(LatencyStatistics(got, percentiles: p) == LatencyStatistics(total, percentiles: p))
        }
        for (snapshot, expected) in zip(snapshots, direct) {
            let got = try #require(snapshot.series[SeriesKey(.read)])
            #expect(got == expected && got.min == expected.min && got.max == expected.max)
        }
        #expect(recorder.count(of: .read, status: .ok) == UInt64(values.count))
    }

    @Test("a copied recorder is independent of the original: recording into one leaves the other unchanged")
    func copiesAreValues() throws {
        var original = OperationRecorder()
        original.record(series: .update, nanos: 700, status: .ok)
        var copy = original
        copy.record(series: .update, nanos: 900_000, status: .ok)
        copy.record(series: .update, nanos: 5, status: .error)
        #expect(try #require(original.histogram(for: SeriesKey(.update))).totalCount == 1)
        #expect(try #require(original.histogram(for: SeriesKey(.update))).max == 700)
        #expect(original.histogram(for: SeriesKey(.update, .failed)) == nil)
        #expect(original.count(of: .update, status: .ok) == 1)
        #expect(try #require(copy.histogram(for: SeriesKey(.update))).totalCount == 2)
        #expect(copy.count(of: .update, status: .error) == 1)
        original.record(series: .update, nanos: 800, status: .ok)
        #expect(try #require(copy.histogram(for: SeriesKey(.update))).totalCount == 2)
        #expect(try #require(original.histogram(for: SeriesKey(.update))).totalCount == 2)
    }
}
