// Combines results of several clients (processes, machines) into one by exact histogram addition.

import Histogram

/// Merges run results, e.g. from several `kvlab run` clients driving the same store at once.
///
/// Histograms of same-named series are added bucket by bucket, so percentiles of the merged result
/// are exactly those of one histogram that had recorded every operation. Operations and status counts
/// are summed; the run time is the longest (clients run concurrently), so throughput = total operations /
/// longest run time. Metadata comes from the first result, with threads summed, the earliest start time,
/// the warm-up exclusions summed and `mergedFrom` listing the sources.
public enum ResultMerger {
    /// Merges results.
    /// - Parameters:
    ///   - results: At least one result.
    ///   - sources: One description per result (file names), recorded in `metadata.mergedFrom`; defaults
    ///     to engine@startTime.
    /// - Returns: The merged result; series in the order first seen.
    /// - Throws: ``ResultMergeError`` when there is nothing to merge or the inputs are inconsistent.
    public static func merge(_ results: [RunResult], sources: [String]? = nil) throws(ResultMergeError) -> RunResult {
        guard var metadata = results.first?.metadata else { throw .noResults }
        if let sources, sources.count != results.count {
            throw .sourceCountMismatch(results: results.count, sources: sources.count)
        }
        var order: [String] = []
        var merged: [String: SeriesResult] = [:]
        for (i, result) in results.enumerated() {
            // A load's inserts and a run's operations are different measurements: adding them
            // gave a plausible-looking report of neither (found merging a load and a run file).
            guard result.metadata.phase == metadata.phase else {
                throw .mixedPhases(resultIndex: i, phase: result.metadata.phase.rawValue, expected: metadata.phase.rawValue)
            }
            for series in result.series {
                guard var existing = merged[series.name] else {
                    order.append(series.name)
                    merged[series.name] = series
                    continue
                }
                guard existing.histogram.lowestDiscernibleValue == series.histogram.lowestDiscernibleValue,
                      existing.histogram.numberOfSignificantValueDigits == series.histogram.numberOfSignificantValueDigits else {
                    throw .incompatibleHistograms(series: series.name, resultIndex: i)
                }
                if series.histogram.highestTrackableValue > existing.histogram.highestTrackableValue {
                    var wider = series.histogram
                    wider.add(existing.histogram)
                    existing.histogram = wider
                } else {
                    existing.histogram.add(series.histogram)
                }
                for (status, count) in series.returns {
                    existing.returns[status] = try checkedSum([existing.returns[status] ?? 0, count], field: "\(series.name) \(status) count")
                }
                merged[series.name] = existing
            }
        }
        metadata.threads = try checkedSum(results.map(\.metadata.threads), field: "threads")
        metadata.startTime = results.map(\.metadata.startTime).min()!
        metadata.warmUpExcludedOperations = try checkedSum(results.map(\.metadata.warmUpExcludedOperations), field: "warmUpExcludedOperations")
        metadata.mergedFrom = sources ?? results.map { "\($0.metadata.engine)@\(RunMetadata.formatISO8601($0.metadata.startTime))" }
        let peaks = results.compactMap(\.metadata.memory)
        metadata.memory = peaks.isEmpty ? nil : RunMetadata.MemoryPeaks(
            allocator: Set(peaks.map(\.allocator)).sorted().joined(separator: ","),
            peakAllocatedBytes: peaks.map(\.peakAllocatedBytes).max()!,
            peakResidentBytes: peaks.map(\.peakResidentBytes).max()!)
        let targets = results.compactMap(\.metadata.target)
        metadata.target = targets.count == results.count ? targets.reduce(0, +) : nil
        var result = RunResult(metadata: metadata,
                               runtimeMilliseconds: results.map(\.runtimeMilliseconds).max()!,
                               operations: try checkedSum(results.map(\.operations), field: "operations"),
                               series: order.map { merged[$0]! })
        // CPU time adds up like operations; a source without it would understate the sum.
        let cpu = results.compactMap(\.threadCPUNanoseconds)
        result.threadCPUNanoseconds = cpu.count == results.count ? try checkedSum(cpu, field: "threadCpuNs") : nil
        let chunks = results.compactMap(\.cpuChunkNanoseconds)
        result.cpuChunkNanoseconds = chunks.count == results.count && result.threadCPUNanoseconds != nil ? chunks.flatMap { $0 } : nil
        return result
    }
}

extension ResultMerger {
    /// Adds counts read from result files, which may be hand-made: a sum past the integer's
    /// range is bad input (exit 2), not a trap.
    static func checkedSum<T: FixedWidthInteger>(_ values: [T], field: String) throws(ResultMergeError) -> T {
        var total: T = 0
        for value in values {
            let (sum, overflow) = total.addingReportingOverflow(value)
            if overflow { throw .sumOverflow(field: field) }
            total = sum
        }
        return total
    }
}

/// Why results could not be merged.
public enum ResultMergeError: Error, Sendable, Equatable, CustomStringConvertible {
    case noResults
    case sourceCountMismatch(results: Int, sources: Int)
    case incompatibleHistograms(series: String, resultIndex: Int)
    case mixedPhases(resultIndex: Int, phase: String, expected: String)
    case sumOverflow(field: String)

    public var description: String {
        switch self {
        case .noResults: "nothing to merge: no results given"
        case let .sourceCountMismatch(results, sources): "\(results) results but \(sources) source names"
        case let .incompatibleHistograms(series, index):
            "series \(series) of result \(index + 1) has a different histogram layout (lowest value or significant digits)"
        case let .mixedPhases(index, phase, expected):
            "result \(index + 1) is a \(phase) phase, the first is a \(expected) phase: expected results of one phase (merge loads and runs apart)"
        case let .sumOverflow(field):
            "the sum of \(field) over the results exceeds the largest representable count: expected counts a run can produce"
        }
    }
}
