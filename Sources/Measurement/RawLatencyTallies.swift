// The recorder's hot-path storage: HdrHistogram bucket counts in raw memory, folded into Histograms on demand.

import Histogram

/// Per-series bucket counts in exactly the layout of ``LatencyHistogram/make()`` (lowest value 1,
/// three significant digits, highest one hour in ns), plus the status counts, for one recorder.
///
/// Why: recording into `Histogram<UInt64>` directly cost about 190 instructions per operation
/// (callgrind): the histogram copied out of its `Optional` array slot, three array uniqueness
/// checks, two non-inlined index helpers and bounds checks. Here a record is a leading-zero count,
/// a shift and an increment into memory this object owns. The counts are moved into real
/// histograms (``fold(series:into:clear:)``) when a snapshot or the totals are asked for; each bucket
/// keeps its count, and the series' exact smallest non-zero and largest values are recorded as
/// themselves, so the folded histogram equals one that had every value recorded directly
/// (same counts, total, minimum and maximum).
@usableFromInline
final class RawLatencyTallies: @unchecked Sendable {
    // @unchecked: the memory is owned by this object; `OperationRecorder` copies it before writing
    // whenever another recorder shares it, so no two threads ever write the same tallies.

    /// State of one series since its last fold.
    @usableFromInline struct Series {
        /// Bucket counts (`countsPerSeries` of them), allocated at the series' first record.
        @usableFromInline var counts: UnsafeMutablePointer<UInt64>?
        /// Values recorded since the last fold.
        @usableFromInline var total: UInt64 = 0
        /// Smallest non-zero and largest value since the last fold.
        @usableFromInline var minNonZero: UInt64 = .max
        @usableFromInline var max: UInt64 = 0
    }

    /// HdrHistogram's layout constants for three significant digits and unit 1: sub-buckets of
    /// 2048 values (half count 1024, magnitude 10), `leadingZeroCountBase` 64 - 0 - 11.
    // Literals in inlinable computed properties (not stored statics), so code inlined into other
    // modules folds them instead of calling a lazy global's accessor.
    @inlinable static var subBucketHalfCountMagnitude: Int { 10 }
    @inlinable static var subBucketMask: UInt64 { 2047 }
    @inlinable static var leadingZeroCountBase: Int { 53 }

    /// Bucket slots per series: the index of the highest trackable value, plus one.
    static let countsPerSeries = index(of: LatencyHistogram.highestTrackableNanoseconds) + 1

    let seriesCount: Int
    let statusSlots: Int
    @usableFromInline let series: UnsafeMutablePointer<Series>
    @usableFromInline let statusCounts: UnsafeMutablePointer<UInt64>

    init(seriesCount: Int, statusSlots: Int) {
        self.seriesCount = seriesCount
        self.statusSlots = statusSlots
        series = .allocate(capacity: seriesCount)
        series.initialize(repeating: Series(), count: seriesCount)
        statusCounts = .allocate(capacity: statusSlots)
        statusCounts.initialize(repeating: 0, count: statusSlots)
    }

    deinit {
        for s in 0..<seriesCount { series[s].counts?.deallocate() }
        series.deallocate()
        statusCounts.deallocate()
    }

    /// A deep copy (for a recorder that was copied and is written again).
    @usableFromInline
    func copy() -> RawLatencyTallies {
        let other = RawLatencyTallies(seriesCount: seriesCount, statusSlots: statusSlots)
        other.statusCounts.update(from: statusCounts, count: statusSlots)
        for s in 0..<seriesCount {
            var state = series[s]
            if let counts = state.counts {
                let fresh = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.countsPerSeries)
                fresh.initialize(from: counts, count: Self.countsPerSeries)
                state.counts = fresh
            }
            other.series[s] = state
        }
        return other
    }

    /// HdrHistogram's `countsIndexForValue` for this layout: bucket = base - lzcnt(v | mask),
    /// sub-bucket = v >> bucket, index = (bucket + 1) << 10 + sub - 1024 = bucket << 10 + sub.
    @inlinable @inline(__always)
    static func index(of value: UInt64) -> Int {
        let bucket = leadingZeroCountBase &- (value | subBucketMask).leadingZeroBitCount
        return (bucket &<< subBucketHalfCountMagnitude) &+ Int(truncatingIfNeeded: value &>> UInt64(bucket))
    }

    /// The lowest value that lands in slot `index` (HdrHistogram's `valueFromIndex`).
    static func lowestValue(atIndex index: Int) -> UInt64 {
        var bucket = (index >> subBucketHalfCountMagnitude) - 1
        var sub = (index & ((1 << subBucketHalfCountMagnitude) - 1)) + (1 << subBucketHalfCountMagnitude)
        if bucket < 0 {
            sub -= 1 << subBucketHalfCountMagnitude
            bucket = 0
        }
        return UInt64(sub) << UInt64(bucket)
    }

    /// Counts `value` (at most `LatencyHistogram.highestTrackableNanoseconds`, so the index is
    /// below `countsPerSeries`) in series `s`.
    @inlinable @inline(__always)
    func record(_ value: UInt64, series s: Int) {
        let state = series + s
        if state.pointee.counts == nil { allocateCounts(state) }
        state.pointee.counts.unsafelyUnwrapped[Self.index(of: value)] &+= 1
        state.pointee.total &+= 1
        if value > state.pointee.max { state.pointee.max = value }
        if value < state.pointee.minNonZero && value != 0 { state.pointee.minNonZero = value }
    }

    @usableFromInline @inline(never)
    func allocateCounts(_ state: UnsafeMutablePointer<Series>) {
        let counts = UnsafeMutablePointer<UInt64>.allocate(capacity: Self.countsPerSeries)
        counts.initialize(repeating: 0, count: Self.countsPerSeries)
        state.pointee.counts = counts
    }

    /// Whether series `s` has values not yet folded.
    func hasPending(series s: Int) -> Bool { series[s].total > 0 }

    /// Adds series `s`'s pending values to `histogram` (which must have ``LatencyHistogram``'s
    /// layout); with `clear`, also empties the series. Only the slots from the smallest to the
    /// largest value are visited (plus slot 0, value 0).
    func fold(series s: Int, into histogram: inout Histogram<UInt64>, clear: Bool) {
        let state = series[s]
        guard state.total > 0, let counts = state.counts else { return }
        if counts[0] > 0 {
            histogram.record(0, count: counts[0])
            if clear { counts[0] = 0 }
        }
        if state.minNonZero != .max {
            let minIndex = Self.index(of: state.minNonZero), maxIndex = Self.index(of: state.max)
            for i in minIndex...maxIndex where counts[i] > 0 {
                var n = counts[i]
                // The exact extremes are recorded as themselves (so the histogram's min and max are
                // exact); the bucket's other values as any value of the bucket, the extreme here.
                if i == minIndex {
                    if i == maxIndex && n > 1 && state.max != state.minNonZero {
                        histogram.record(state.max, count: 1)
                        n -= 1
                    }
                    histogram.record(state.minNonZero, count: n)
                } else if i == maxIndex {
                    histogram.record(state.max, count: n)
                } else {
                    histogram.record(Self.lowestValue(atIndex: i), count: n)
                }
                if clear { counts[i] = 0 }
            }
        }
        if clear {
            series[s].total = 0
            series[s].minNonZero = .max
            series[s].max = 0
        }
    }
}
