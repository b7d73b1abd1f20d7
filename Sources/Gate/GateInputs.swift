// Turns result files into gate metrics: configuration checks, throughput, per-series p99, error counts.

import Foundation
import Measurement

/// A result with the name it was read from (for messages).
public struct SourcedResult: Sendable {
    /// Where the result came from (a file path or "run 3 of BASE").
    public var source: String
    /// The result.
    public var result: RunResult
    /// Creates a sourced result.
    public init(source: String, result: RunResult) {
        self.source = source
        self.result = result
    }
}

extension RegressionGate {
    /// Chunks per run below which the gate warns that the fastest chunk may not have escaped a slow
    /// stretch: slowdowns from a hypervisor's neighbours lasted from ~0.5 s to over a second on this
    /// machine; 200,000-operation runs spread identical runs' fastest chunks over 98%, 1,000,000
    /// still split into a fast and a slow group in some hours, and 3,000,000 (1,465 chunks, ~1.5 s)
    /// separated the planted 10% slowdown at Cliff's delta 0.83–1.00 (results/gate.md, "Long runs").
    public static let steadyRunChunks = 1465

    /// Statuses that are not failures: YCSB's OK, a batched OK, and a read of a missing key.
    static let nonErrorStatuses: Set<String> = ["OK", "BATCHED_OK", "NOT_FOUND"]

    /// Compares BASE and NEW timed runs: overall throughput, p99 of every series, error counts.
    /// - Throws: `GateError` when a side is empty or two runs differ in engine, threads, target,
    ///   phase or a workload property (other than `settings.ignoredProperties`).
    public static func compare(base: [SourcedResult], new: [SourcedResult], settings: GateSettings = GateSettings()) throws(GateError) -> GateReport {
        guard !base.isEmpty else { throw .noRuns(side: "BASE") }
        guard !new.isEmpty else { throw .noRuns(side: "NEW") }
        try checkComparable(base + new, ignoring: settings.ignoredProperties)
        let decidingMetric = try timedMetric(base + new, requested: settings.timedMetric)
        let wallClockGated = decidingMetric == .throughput
        var metrics: [GateMetric] = []
        if decidingMetric == .cpu {
            metrics.append(GateMetric(name: "OVERALL CPU/op", unit: "ns", direction: .lowerIsBetter, limit: settings.maxCPURise,
                                      base: base.compactMap { $0.result.cpuFastestChunkNanosecondsPerOperation },
                                      new: new.compactMap { $0.result.cpuFastestChunkNanosecondsPerOperation }))
            metrics.append(GateMetric(name: "OVERALL CPU/op, whole run", unit: "ns", direction: .lowerIsBetter, limit: settings.maxCPUMeanRise,
                                      base: base.compactMap { $0.result.cpuNanosecondsPerOperation },
                                      new: new.compactMap { $0.result.cpuNanosecondsPerOperation }))
        }
        var throughput = GateMetric(name: "OVERALL throughput", unit: "ops/s", direction: .higherIsBetter, limit: settings.maxThroughputDrop,
                                    base: base.map { $0.result.throughput }, new: new.map { $0.result.throughput })
        throughput.gated = wallClockGated
        metrics.append(throughput)
        var names: [String] = []
        for run in base + new { for series in run.result.series where !names.contains(series.name) { names.append(series.name) } }
        var notes: [String] = []
        if decidingMetric == .cpu, let shortest = (base + new).map({ $0.result.cpuChunkNanoseconds?.count ?? 0 }).min(),
           shortest < RegressionGate.steadyRunChunks {
            notes.append("a run has only \(shortest) CPU chunks of \(RunResult.cpuChunkOperations) operations: on a shared machine a slow stretch can outlast a short run and hide its fastest chunk; use at least \(String(format: "%.1f", Double(RegressionGate.steadyRunChunks) * Double(RunResult.cpuChunkOperations) / 1e6))M operations per run (results/gate.md)")
        }
        for name in names {
            func p99(_ runs: [SourcedResult]) -> [Double] {
                runs.compactMap { run in
                    guard let series = run.result.series(named: name), series.operations > 0 else { return nil }
                    return LatencyUnits.microseconds(LatencyStatistics(series.histogram, percentiles: [99]).percentiles[0].value)
                }
            }
            let b = p99(base), n = p99(new)
            if b.isEmpty != n.isEmpty {
                notes.append("series \(name) appears only in \(b.isEmpty ? "NEW" : "BASE") runs")
            } else if b.count != base.count || n.count != new.count {
                notes.append("series \(name) appears in \(b.count) of \(base.count) BASE and \(n.count) of \(new.count) NEW runs")
            }
            if b.isEmpty && n.isEmpty { continue }
            var p99Metric = GateMetric(name: "\(name) p99", unit: "µs", direction: .lowerIsBetter, limit: settings.maxP99Rise, base: b, new: n)
            // A p99 is wall-clock time too: a preemption inside an operation lands in the tail.
            p99Metric.gated = wallClockGated || name.contains("-FAILED")
            metrics.append(p99Metric)
        }
        // Errors are a correctness signal, not noise: gated exactly, any rise above BASE's worst run fails.
        let baseErrors = base.map { Double(errorCount($0.result)) }
        let newErrors = new.map { Double(errorCount($0.result)) }
        metrics.append(GateMetric(name: "errors", unit: "ops", direction: .lowerIsBetter, limit: 0, exact: true,
                                  base: [baseErrors.max() ?? 0], new: [newErrors.max() ?? 0]))
        var report = try evaluate(metrics, baseRuns: base.count, newRuns: new.count, settings: settings, notes: notes)
        // A failure series NEW has and BASE never had is a regression even without a second side to test.
        report = GateReport(rows: report.rows.map { row in
            guard row.verdict == .oneSided, row.metric.name.contains("-FAILED"), row.baseMedian == nil else { return row }
            return GateRow(metric: row.metric, baseMedian: nil, newMedian: row.newMedian, relativeShift: nil, cliffsDelta: nil,
                           pValue: nil, verdict: .regression)
        }, baseRuns: report.baseRuns, newRuns: report.newRuns, settings: settings, notes: report.notes)
        report.timedMetric = decidingMetric
        return report
    }

    /// Resolves `automatic` and checks that a requested `cpu` is possible.
    /// - Throws: `GateError.invalidSetting` when `cpu` is asked for and a run lacks CPU chunks or ran against a server.
    static func timedMetric(_ runs: [SourcedResult], requested: TimedGateMetric) throws(GateError) -> TimedGateMetric {
        // Network targets are named by URL (redis://, memcached://...): their cost is mostly waiting.
        let server = runs.first { $0.result.metadata.engine.contains("://") }
        let withoutCPU = runs.first { $0.result.cpuFastestChunkNanosecondsPerOperation == nil }
        // The driver threads' CPU clock is blind to what they wait for and to other threads' work:
        // several driver threads wait on each other's locks (a contention regression lowers
        // throughput, not CPU/op), and the file-backed engines wait on fsync and hand work to their
        // own threads (lsm's flush/compaction, btree's group commit and periodic sync). Automatic
        // keeps throughput for those; `--metric cpu` still forces the CPU metric.
        let waits = runs.first { $0.result.metadata.threads > 1 || Self.enginesWithWaitsOrOwnThreads.contains($0.result.metadata.engine) }
        switch requested {
        case .throughput: return .throughput
        case .automatic: return server == nil && withoutCPU == nil && waits == nil ? .cpu : .throughput
        case .cpu:
            if let server {
                throw .invalidSetting("--metric cpu: \(server.source) ran against \(server.result.metadata.engine); CPU time does not see network waits, gate network targets on throughput")
            }
            if let withoutCPU {
                throw .invalidSetting("--metric cpu: \(withoutCPU.source) has no CPU chunks (overall.cpuChunkNs; written by kvlab run from issue 17 on, with at least 2048 measured operations); use --metric throughput")
            }
            return .cpu
        }
    }

    /// In-process engines whose cost is partly fsync waits or work on threads of their own, which
    /// the driver threads' CPU time does not see (the file-backed engines, see StandardEngines).
    static let enginesWithWaitsOrOwnThreads: Set<String> = ["lsm", "btree"]

    /// Operations that ended in a failure status, over the plain operation series.
    public static func errorCount(_ result: RunResult) -> UInt64 {
        var total: UInt64 = 0
        for series in result.series where !series.name.hasPrefix("Intended-") {
            for (status, count) in series.returns where !nonErrorStatuses.contains(status) { total += count }
        }
        return total
    }

    /// Checks that every run measured the same thing.
    static func checkComparable(_ runs: [SourcedResult], ignoring ignored: Set<String>) throws(GateError) {
        guard let first = runs.first else { return }
        let reference = fingerprint(first.result, ignoring: ignored)
        for run in runs.dropFirst() {
            let other = fingerprint(run.result, ignoring: ignored)
            for key in Set(reference.keys).union(other.keys).sorted() where reference[key] != other[key] {
                throw .configurationMismatch(field: key, first: reference[key] ?? "(unset)", firstSource: first.source,
                                             other: other[key] ?? "(unset)", otherSource: run.source)
            }
        }
    }

    /// What must be equal for two runs to be compared: engine, threads, target, phase, properties.
    static func fingerprint(_ result: RunResult, ignoring ignored: Set<String>) -> [String: String] {
        let m = result.metadata
        var fields: [String: String] = [
            "engine": m.engine, "threads": String(m.threads), "phase": m.phase.rawValue,
            "target": m.target.map { String($0) } ?? "unthrottled",
        ]
        for (key, value) in m.engineOptions where key != "directory" { fields["engine option \(key)"] = value }
        for (key, value) in m.properties where !ignored.contains(key) { fields["property \(key)"] = value }
        return fields
    }
}

extension RunResult {
    /// CPU nanoseconds per operation of the run's fastest chunk; nil without chunks. What the timed
    /// gate decides on: interference from other processes (a busy hyperthread sibling, caches
    /// refilled after a context switch, a hypervisor's neighbours) only ever adds CPU time, so the
    /// least disturbed chunk is the closest to the code's own cost, and on the loaded 2-core machine it
    /// moved far less between identical runs than the whole-run mean or the median chunk
    /// (results/gate.md).
    public var cpuFastestChunkNanosecondsPerOperation: Double? {
        guard let fastest = cpuChunkNanoseconds?.min() else { return nil }
        return Double(fastest) / Double(RunResult.cpuChunkOperations)
    }
}

// MARK: Rendering

extension GateReport {
    static let header = ["metric", "base median", "new median", "shift", "Cliff's δ", "p (worse)", "verdict"]

    func cells(_ row: GateRow) -> [String] {
        [row.metric.name, Self.value(row.baseMedian, row.metric.unit), Self.value(row.newMedian, row.metric.unit),
         row.relativeShift.map { ($0 >= 0 ? "+" : "") + String(format: "%.1f%%", $0 * 100) } ?? "-",
         row.cliffsDelta.map { String(format: "%+.2f", $0) } ?? "-",
         row.pValue.map { $0 < 0.0001 ? "<0.0001" : String(format: "%.4f", $0) } ?? (row.metric.exact ? "exact" : "-"),
         row.metric.gated ? row.verdict.rawValue : row.verdict.rawValue + " (not gated)"]
    }

    static func value(_ value: Double?, _ unit: String) -> String {
        guard let value else { return "-" }
        let text = value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.2f", value)
        return text + " " + unit
    }

    var summary: String {
        let limits: String
        switch timedMetric {
        case .cpu?: limits = "gated on CPU time per operation (each run's fastest 2048-operation chunk, and the whole run with a wider limit; wall-clock rows reported, not gated): CPU/op rise \(percent(settings.maxCPURise)), whole run \(percent(settings.maxCPUMeanRise))"
        case .throughput?, .automatic?: limits = "gated on wall-clock: throughput drop \(percent(settings.maxThroughputDrop)), p99 rise \(percent(settings.maxP99Rise))"
        case nil: limits = "counts \(percent(settings.maxCountRise))"
        }
        return "\(verdictWord.uppercased()): \(baseRuns) BASE vs \(newRuns) NEW runs; a metric fails when NEW is worse with one-sided Mann–Whitney p < \(settings.significance) and a Hodges–Lehmann shift beyond its limit (\(limits))"
    }

    private func percent(_ fraction: Double) -> String { String(format: "%g%%", fraction * 100) }

    /// An aligned plain-text table, the verdict and the notes.
    public func textTable() -> String {
        let table = [Self.header] + rows.map(cells)
        let widths = (0..<Self.header.count).map { column in table.map { $0[column].count }.max() ?? 0 }
        var lines = table.map { cells in
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 || index == cells.count - 1 ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        lines += ["", summary] + notes.map { "note: \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A GitHub-flavoured markdown table, the verdict in bold and the notes as a list.
    public func markdownTable() -> String {
        var lines = ["| " + Self.header.joined(separator: " | ") + " |", "|---|---:|---:|---:|---:|---:|---|"]
        lines += rows.map { row in
            var cells = cells(row)
            if row.verdict == .regression && row.metric.gated { cells[cells.count - 1] = "**regression**" }
            return "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |"
        }
        lines += ["", "**" + summary.replacingOccurrences(of: ":", with: ":**", options: [], range: summary.range(of: ":"))]
        lines += notes.map { "- \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }
}
