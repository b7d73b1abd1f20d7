// The repeat-aware regression gate: BASE runs vs NEW runs, per metric, by rank test plus effect size.
//
// Decision rule (documented in README "Regression gate"): a metric regresses when NEW is worse than
// BASE with one-sided Mann–Whitney p < significance AND the Hodges–Lehmann shift, relative to
// BASE's median, is worse than the metric's limit. Both conditions are needed: significance alone
// flags a real but irrelevant 0.3% shift after enough repeats; size alone flags noise. Exact
// (counting-mode) metrics repeat bit for bit, so for them the medians are compared directly.

import Foundation
import Measurement

/// Whether larger values of a metric are better (throughput) or worse (latency, instructions).
public enum MetricDirection: String, Sendable, Equatable {
    case higherIsBetter
    case lowerIsBetter
}

/// One gated quantity with its values from every BASE and every NEW run.
public struct GateMetric: Sendable, Equatable {
    /// Row label, e.g. "OVERALL throughput" or "READ p99".
    public var name: String
    /// Unit printed with the medians, e.g. "ops/s", "µs", "instr/op".
    public var unit: String
    /// Which way is better.
    public var direction: MetricDirection
    /// Largest tolerated worsening, as a fraction of BASE's median.
    public var limit: Double
    /// Whether values repeat exactly between identical runs (counting mode): no test needed.
    public var exact: Bool
    /// Whether the verdict counts toward the exit status; a metric that is not gated is decided and
    /// shown the same way, marked "(not gated)" (wall-clock rows when the gate decides on CPU time).
    public var gated: Bool = true
    /// One value per BASE run that has this metric.
    public var base: [Double]
    /// One value per NEW run that has this metric.
    public var new: [Double]

    /// Creates a metric.
    public init(name: String, unit: String, direction: MetricDirection, limit: Double, exact: Bool = false,
                base: [Double], new: [Double]) {
        self.name = name
        self.unit = unit
        self.direction = direction
        self.limit = limit
        self.exact = exact
        self.base = base
        self.new = new
    }
}

/// What the gate concluded about one metric.
public enum MetricVerdict: String, Sendable, Equatable {
    /// Within the limit, or not significantly worse.
    case pass
    /// Significantly worse by more than the limit.
    case regression
    /// Significantly better by more than the limit (reported, never a failure).
    case improvement
    /// Too few runs for any outcome to reach the significance level.
    case insufficientData = "insufficient data"
    /// Present on one side only; nothing to compare.
    case oneSided = "one side only"
}

/// One row of the gate's table.
public struct GateRow: Sendable, Equatable {
    /// The metric compared.
    public let metric: GateMetric
    /// BASE's median (nil when BASE has no value).
    public let baseMedian: Double?
    /// NEW's median (nil when NEW has no value).
    public let newMedian: Double?
    /// Hodges–Lehmann shift BASE → NEW divided by BASE's median (exact metrics: median change).
    public let relativeShift: Double?
    /// Cliff's delta of NEW against BASE, signed so that positive means NEW is larger.
    public let cliffsDelta: Double?
    /// One-sided p-value for "NEW is worse" (nil for exact metrics and one-sided rows).
    public let pValue: Double?
    /// The conclusion.
    public let verdict: MetricVerdict
}

/// Thresholds and the significance level of the gate.
public struct GateSettings: Sendable, Equatable {
    /// The chance of calling an unchanged metric a regression that the gate accepts (per metric).
    public var significance: Double
    /// Largest tolerated throughput drop (fraction).
    public var maxThroughputDrop: Double
    /// Largest tolerated rise of a series' p99 (fraction).
    public var maxP99Rise: Double
    /// Largest tolerated rise of instructions or allocations per operation in counting mode (fraction).
    public var maxCountRise: Double
    /// Largest tolerated rise of driver-thread CPU time per operation in each run's fastest chunk (fraction).
    public var maxCPURise: Double
    /// Largest tolerated rise of driver-thread CPU time per operation over each whole run (fraction).
    /// Wider than `maxCPURise`: the whole-run mean carries every stretch a neighbour slowed down
    /// (31% spread between identical runs, results/gate.md), but it sees costs that occur less
    /// often than once per chunk (a table resize, a periodic flush), which the fastest chunk skips.
    public var maxCPUMeanRise: Double = 0.15
    /// Which timed statistic decides: CPU time per operation, wall-clock throughput and p99, or automatic.
    public var timedMetric: TimedGateMetric
    /// Counting mode: whether allocations per operation are gated (true) or only reported, for
    /// engines whose allocation count is not exact between identical runs (see scripts/ci-count-gate.sh).
    public var gateAllocations: Bool = true
    /// Workload properties that may differ between runs (output paths, labels, status settings).
    public var ignoredProperties: Set<String>

    /// Properties that change where output goes, not what is measured.
    public static let outputProperties: Set<String> = [
        "exportfile", "status", "status.interval", "label", "hdrhistogram.output.path", "hdrhistogram.fileoutput",
        "exporter", "measurementtype", "hdrhistogram.percentiles",
    ]

    /// Creates settings; the defaults are `kvlab gate`'s.
    public init(significance: Double = 0.05, maxThroughputDrop: Double = 0.05, maxP99Rise: Double = 0.10,
                maxCountRise: Double = 0.01, maxCPURise: Double = 0.05, timedMetric: TimedGateMetric = .automatic,
                ignoredProperties: Set<String> = GateSettings.outputProperties) {
        self.significance = significance
        self.maxThroughputDrop = maxThroughputDrop
        self.maxP99Rise = maxP99Rise
        self.maxCountRise = maxCountRise
        self.maxCPURise = maxCPURise
        self.timedMetric = timedMetric
        self.ignoredProperties = ignoredProperties
    }
}

/// The statistic a timed gate decides on.
///
/// `cpu`: the driver threads' CPU nanoseconds per operation in each run's fastest 2048-operation
/// chunk (``RunResult/cpuFastestChunkNanosecondsPerOperation``). A thread's CPU clock stops while it
/// is preempted, which is most of what moves wall-clock throughput between identical runs on a
/// shared machine, and what still inflates CPU time (a busy hyperthread sibling, refilled caches)
/// only adds, so the least disturbed chunk is the steadiest estimate of the code's own cost
/// (results/gate.md has the spread table). It is a CPU-cost metric: it
/// does not see waits (I/O, lock waits, the network), so it suits in-process engines only.
/// `throughput`: wall-clock throughput and every series' p99, the metric for network targets.
/// `automatic`: `cpu` when every run is in-process, single-threaded, on an engine without fsync
/// waits or threads of its own (not lsm or btree), and recorded CPU chunks; else `throughput`.
public enum TimedGateMetric: String, Sendable, Equatable, CaseIterable {
    case automatic = "auto"
    case cpu
    case throughput
}

/// Why the gate could not compare its inputs (exit status 2).
public enum GateError: Error, Equatable, CustomStringConvertible {
    /// A side has no runs.
    case noRuns(side: String)
    /// Two runs differ in something that changes what is measured.
    case configurationMismatch(field: String, first: String, firstSource: String, other: String, otherSource: String)
    /// Timed results and counting results were mixed.
    case mixedKinds(String)
    /// A setting is out of range.
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .noRuns(let side): "no \(side) runs given; the gate needs at least one result file per side"
        case let .configurationMismatch(field, first, firstSource, other, otherSource):
            "runs are not comparable: \(field) is '\(first)' in \(firstSource) but '\(other)' in \(otherSource)"
        case .mixedKinds(let detail): "cannot gate timed and counting results together: \(detail)"
        case .invalidSetting(let detail): detail
        }
    }
}

/// The gate's outcome: rows, notes and the process exit status.
public struct GateReport: Sendable, Equatable {
    /// One row per metric, in a stable order.
    public let rows: [GateRow]
    /// Runs per side.
    public let baseRuns: Int
    public let newRuns: Int
    /// The settings used.
    public let settings: GateSettings
    /// Remarks for the reader (series on one side only, too few repeats).
    public let notes: [String]

    /// Which timed statistic decided the run-time verdict (nil for counting results).
    public var timedMetric: TimedGateMetric? = nil

    /// 1 when any gated metric regressed, else 3 when any gated metric had too little data, else 0.
    public var exitStatus: Int32 {
        if rows.contains(where: { $0.metric.gated && $0.verdict == .regression }) { return 1 }
        if rows.contains(where: { $0.metric.gated && $0.verdict == .insufficientData }) { return 3 }
        return 0
    }

    /// "pass", "regression" or "not enough data".
    public var verdictWord: String {
        switch exitStatus {
        case 1: "regression"
        case 3: "not enough data"
        default: "pass"
        }
    }
}

/// Compares metrics over repeated runs.
public enum RegressionGate {
    /// Decides every metric.
    /// - Throws: `GateError.invalidSetting` for a significance outside (0, 1).
    public static func evaluate(_ metrics: [GateMetric], baseRuns: Int, newRuns: Int, settings: GateSettings,
                                notes: [String] = []) throws(GateError) -> GateReport {
        guard settings.significance > 0, settings.significance < 1 else {
            throw .invalidSetting("significance \(settings.significance): expected a level in (0, 1), e.g. 0.05")
        }
        var rows: [GateRow] = []
        var notes = notes
        for metric in metrics {
            let row = decide(metric, significance: settings.significance)
            if row.verdict == .insufficientData {
                let needed = repeatsNeeded(significance: settings.significance)
                notes.append("\(metric.name): \(metric.base.count) vs \(metric.new.count) runs cannot reach p < \(settings.significance); use at least \(needed) runs per side")
            }
            rows.append(row)
        }
        return GateReport(rows: rows, baseRuns: baseRuns, newRuns: newRuns, settings: settings, notes: notes)
    }

    /// The smallest equal number of runs per side whose best one-sided p-value is below `significance`.
    public static func repeatsNeeded(significance: Double) -> Int {
        var n = 1
        while 1 / MannWhitney.binomial(2 * n, n) >= significance && n < 100 { n += 1 }
        return n
    }

    static func decide(_ metric: GateMetric, significance: Double) -> GateRow {
        let baseMedian = metric.base.isEmpty ? nil : MannWhitney.median(metric.base)
        let newMedian = metric.new.isEmpty ? nil : MannWhitney.median(metric.new)
        guard let baseMedian, let newMedian else {
            return GateRow(metric: metric, baseMedian: baseMedian, newMedian: newMedian, relativeShift: nil,
                           cliffsDelta: nil, pValue: nil, verdict: .oneSided)
        }
        // Worsening as a positive fraction of BASE: a drop for throughput, a rise for latency.
        let sign: Double = metric.direction == .higherIsBetter ? -1 : 1
        let scale = baseMedian == 0 ? 1 : abs(baseMedian)
        if metric.exact {
            let change = (newMedian - baseMedian) / scale
            let worse = sign * change
            let verdict: MetricVerdict = worse > metric.limit ? .regression : (-worse > metric.limit ? .improvement : .pass)
            return GateRow(metric: metric, baseMedian: baseMedian, newMedian: newMedian, relativeShift: change,
                           cliffsDelta: MannWhitney.cliffsDelta(of: metric.new, against: metric.base), pValue: nil, verdict: verdict)
        }
        let shift = MannWhitney.hodgesLehmannShift(from: metric.base, to: metric.new) / scale
        let delta = MannWhitney.cliffsDelta(of: metric.new, against: metric.base)
        // x = NEW, y = BASE: "NEW worse" is NEW less (throughput) or NEW greater (latency).
        let worseAlternative: TestAlternative = metric.direction == .higherIsBetter ? .less : .greater
        let betterAlternative: TestAlternative = metric.direction == .higherIsBetter ? .greater : .less
        // Samples are finite and non-empty here, so the test cannot fail.
        guard let worse = try? MannWhitney.test(metric.new, metric.base, alternative: worseAlternative),
              let better = try? MannWhitney.test(metric.new, metric.base, alternative: betterAlternative) else {
            return GateRow(metric: metric, baseMedian: baseMedian, newMedian: newMedian, relativeShift: shift,
                           cliffsDelta: delta, pValue: nil, verdict: .insufficientData)
        }
        let verdict: MetricVerdict
        if worse.smallestAttainablePValue >= significance {
            // No arrangement of this many runs can be significant: say so instead of passing.
            verdict = .insufficientData
        } else if worse.pValue < significance && sign * shift > metric.limit {
            verdict = .regression
        } else if better.pValue < significance && -sign * shift > metric.limit {
            verdict = .improvement
        } else {
            verdict = .pass
        }
        return GateRow(metric: metric, baseMedian: baseMedian, newMedian: newMedian, relativeShift: shift,
                       cliffsDelta: delta, pValue: worse.pValue, verdict: verdict)
    }
}
