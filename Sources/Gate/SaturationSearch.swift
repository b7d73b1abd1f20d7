// Saturation search: the highest target rate whose intended (coordinated-omission-corrected) latency meets an SLO.
//
// Why bisection over -target and intended latency: service time alone stays flat past saturation
// (each operation is quick once it starts), while the schedule falls behind; intended latency,
// measured from when each operation should have started, is what a user at that arrival rate
// sees, and it explodes at the knee. Each step is short and steady-state (a warm-up is excluded).

import Foundation
import Measurement
import Plotting

/// A latency objective such as "p99 ≤ 2 ms".
public struct LatencyObjective: Sendable, Equatable, CustomStringConvertible {
    /// The percentile, e.g. 99.
    public var percentile: Double
    /// The limit in microseconds.
    public var limitMicroseconds: Double

    /// Creates an objective.
    public init(percentile: Double, limitMicroseconds: Double) {
        self.percentile = percentile
        self.limitMicroseconds = limitMicroseconds
    }

    /// Parses `p99=2ms`, `p99.9=500us`, `p50=800µs`, `p99=1.5s` or `p99=250000ns`.
    /// - Throws: `SaturationError.invalidObjective` naming the text and the expected form.
    public static func parse(_ text: String) throws(SaturationError) -> LatencyObjective {
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, parts[0].lowercased().hasPrefix("p"), let percentile = Double(parts[0].dropFirst()),
              percentile > 0, percentile < 100 else { throw .invalidObjective(text) }
        let units: [(String, Double)] = [("ms", 1000), ("us", 1), ("µs", 1), ("ns", 0.001), ("s", 1_000_000)]
        for (suffix, factor) in units where parts[1].hasSuffix(suffix) {
            guard let value = Double(parts[1].dropLast(suffix.count)), value.isFinite, value > 0 else { throw .invalidObjective(text) }
            return LatencyObjective(percentile: percentile, limitMicroseconds: value * factor)
        }
        throw .invalidObjective(text)
    }

    public var description: String {
        let p = percentile.rounded() == percentile ? String(Int(percentile)) : String(percentile)
        return limitMicroseconds >= 1000 ? "p\(p) ≤ \(limitMicroseconds / 1000) ms" : "p\(p) ≤ \(limitMicroseconds) µs"
    }
}

/// What a saturation search can report as wrong.
public enum SaturationError: Error, Equatable, CustomStringConvertible {
    /// The `--slo` text is not of the form p99=2ms.
    case invalidObjective(String)
    /// The search settings are out of range.
    case invalidSetting(String)

    public var description: String {
        switch self {
        case .invalidObjective(let text): "--slo '\(text)': expected a percentile and a latency, e.g. p99=2ms, p99.9=500us"
        case .invalidSetting(let detail): detail
        }
    }
}

/// One measured step: a target rate and what it gave.
public struct SaturationStep: Sendable, Equatable {
    /// The target rate in operations per second (0 = unthrottled).
    public var targetRate: Double
    /// The rate achieved.
    public var throughput: Double
    /// Intended-latency median in µs.
    public var p50Microseconds: Double
    /// Intended latency at the objective's percentile in µs.
    public var tailMicroseconds: Double
    /// Whether the step met the objective (and kept up with its target).
    public var meetsObjective: Bool

    /// Creates a step.
    public init(targetRate: Double, throughput: Double, p50Microseconds: Double, tailMicroseconds: Double, meetsObjective: Bool = false) {
        self.targetRate = targetRate
        self.throughput = throughput
        self.p50Microseconds = p50Microseconds
        self.tailMicroseconds = tailMicroseconds
        self.meetsObjective = meetsObjective
    }

    /// The step's intended p50 and tail from a run's `Intended-<OP>` series (service series when
    /// the run was unthrottled), failures excluded.
    public static func from(_ result: RunResult, targetRate: Double, percentile: Double) -> SaturationStep {
        var merged = LatencyHistogram.make()
        let intended = result.series.filter { $0.name.hasPrefix("Intended-") && !$0.name.hasSuffix("-FAILED") }
        let chosen = intended.isEmpty ? result.series.filter { !$0.name.hasPrefix("Intended-") && !$0.name.hasSuffix("-FAILED") && $0.name != "VERIFY" } : intended
        for series in chosen { merged.add(series.histogram) }
        let statistics = LatencyStatistics(merged, percentiles: [50, percentile])
        return SaturationStep(targetRate: targetRate, throughput: result.throughput,
                              p50Microseconds: LatencyUnits.microseconds(statistics.percentiles[0].value),
                              tailMicroseconds: LatencyUnits.microseconds(statistics.percentiles[1].value))
    }
}

/// The outcome: every step measured and the knee.
public struct SaturationOutcome: Sendable, Equatable {
    /// The objective searched for.
    public var objective: LatencyObjective
    /// The unthrottled step that bounded the search.
    public var unthrottled: SaturationStep
    /// The throttled steps, in increasing target rate.
    public var curve: [SaturationStep]
    /// The highest target rate that met the objective (nil if even the lowest failed).
    public var knee: SaturationStep?

    /// A plain-text table of the curve and the knee.
    public func textTable() -> String {
        var lines = ["target (ops/s)  achieved (ops/s)  intended p50 (µs)  intended tail (µs)  meets \(objective)"]
        for step in curve {
            lines.append(String(format: "%14.0f  %16.0f  %17.0f  %18.0f  %@", step.targetRate, step.throughput, step.p50Microseconds,
                                step.tailMicroseconds, step.meetsObjective ? "yes" : "no"))
        }
        lines.append(String(format: "unthrottled: %.0f ops/s, service p50 %.0f µs, tail %.0f µs", unthrottled.throughput,
                            unthrottled.p50Microseconds, unthrottled.tailMicroseconds))
        if let knee {
            lines.append(String(format: "knee: %.0f ops/s meets %@ (intended tail %.0f µs)", knee.targetRate, objective.description, knee.tailMicroseconds))
        } else {
            lines.append("knee: none — even the lowest rate tried misses \(objective)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The curve as a chart: rate vs intended p50 and tail, with the objective as a line.
    public func chart() throws(PlotError) -> String {
        let rates = curve.map(\.targetRate)
        var series = [
            Series("intended p50", x: rates, y: curve.map { Swift.max(1, $0.p50Microseconds) }, style: .lineWithMarkers),
            Series("intended p\(objective.percentile.rounded() == objective.percentile ? String(Int(objective.percentile)) : String(objective.percentile))",
                   x: rates, y: curve.map { Swift.max(1, $0.tailMicroseconds) }, style: .lineWithMarkers),
        ]
        if let low = rates.min(), let high = rates.max() {
            series.append(Series("objective", x: [low, high], y: [objective.limitMicroseconds, objective.limitMicroseconds], color: "#d62728", dashed: true))
        }
        return try LineChart(title: "Saturation search: intended latency vs target rate", xAxis: Axis("target rate", unit: "ops/s"),
                             yAxis: Axis("intended latency", unit: "µs", scale: .logarithmic), series: series).svg()
    }
}

/// Bisection over the target rate.
public struct SaturationSearch: Sendable {
    /// The objective.
    public var objective: LatencyObjective
    /// Throttled steps to measure at most (each is one short run).
    public var maximumSteps: Int
    /// Stop when the bracket [pass, fail] is narrower than this fraction of the failing rate.
    public var resolution: Double
    /// A step that achieves less than this fraction of its target has fallen behind: it fails.
    public var keepUpFraction: Double

    /// Creates a search; defaults: 8 steps, 5% resolution, keep up with 95% of the target.
    public init(objective: LatencyObjective, maximumSteps: Int = 8, resolution: Double = 0.05, keepUpFraction: Double = 0.95) {
        self.objective = objective
        self.maximumSteps = maximumSteps
        self.resolution = resolution
        self.keepUpFraction = keepUpFraction
    }

    /// Runs the search.
    /// - Parameter measure: runs one step at a target rate (0 = unthrottled) and returns its numbers.
    /// - Throws: whatever `measure` throws; `SaturationError.invalidSetting` for bad settings.
    public func run(_ measure: (Double) throws -> SaturationStep) throws -> SaturationOutcome {
        guard maximumSteps >= 2, resolution > 0, resolution < 1 else {
            throw SaturationError.invalidSetting("saturation search: need at least 2 steps and a resolution in (0, 1)")
        }
        let unthrottled = try measure(0)
        var curve: [SaturationStep] = []
        func step(_ rate: Double) throws -> SaturationStep {
            var measured = try measure(rate)
            measured.targetRate = rate
            measured.meetsObjective = measured.tailMicroseconds <= objective.limitMicroseconds
                && measured.throughput >= keepUpFraction * rate
            curve.append(measured)
            return measured
        }
        // The unthrottled rate bounds what any target can reach; start the bracket below and above it.
        var high = Swift.max(1, unthrottled.throughput * 1.05)
        var low = Swift.max(1, unthrottled.throughput * 0.1)
        var best: SaturationStep?
        let first = try step(low)
        if first.meetsObjective {
            best = first
            let top = try step(high)
            if top.meetsObjective { best = top; low = high }
        } else {
            high = low
            low = 0
        }
        while curve.count < maximumSteps, high - low > resolution * high {
            let middle = (low + high) / 2
            let measured = try step(middle)
            if measured.meetsObjective {
                low = middle
                if best.map({ middle > $0.targetRate }) ?? true { best = measured }
            } else {
                high = middle
            }
        }
        curve.sort { $0.targetRate < $1.targetRate }
        return SaturationOutcome(objective: objective, unthrottled: unthrottled, curve: curve, knee: best)
    }
}
