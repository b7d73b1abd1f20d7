// BASE vs NEW: a side-by-side table and a regression verdict, for CI gates.

import Foundation

/// How much worse NEW may be than BASE before the comparison is a regression.
public struct ComparisonThresholds: Sendable, Equatable {
    /// Largest allowed throughput drop, as a fraction of BASE (0.05 = 5%).
    public var maxThroughputDrop: Double
    /// Largest allowed rise of any series' p99, as a fraction of BASE.
    public var maxP99Rise: Double

    /// - Parameters:
    ///   - maxThroughputDrop: Default 5%, as `kvlab compare`'s `--max-throughput-drop`.
    ///   - maxP99Rise: Default 10%, as `--max-p99-rise`.
    public init(maxThroughputDrop: Double = 0.05, maxP99Rise: Double = 0.10) {
        self.maxThroughputDrop = maxThroughputDrop
        self.maxP99Rise = maxP99Rise
    }

    /// Parses a threshold: a percentage (`"5%"`, `"12.5%"`) or a fraction (`"0.05"`).
    /// - Parameter option: Name used in the error, e.g. `--max-p99-rise`.
    /// - Throws: ``ThresholdParseError`` when the text is not a non-negative number.
    public static func parseFraction(_ text: String, option: String) throws(ThresholdParseError) -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let isPercent = trimmed.hasSuffix("%")
        let number = isPercent ? String(trimmed.dropLast()).trimmingCharacters(in: .whitespaces) : trimmed
        guard let value = Double(number), value.isFinite, value >= 0 else {
            throw ThresholdParseError(option: option, text: text)
        }
        return isPercent ? value / 100 : value
    }
}

/// A threshold option whose value is not a percentage or fraction.
public struct ThresholdParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let option: String
    public let text: String
    public var description: String {
        "\(option) '\(text)': expected a non-negative percentage like 5% or a fraction like 0.05"
    }
}

/// The comparison of a NEW result against a BASE result.
public struct ResultComparison: Sendable {
    /// One compared quantity.
    public struct Row: Sendable, Equatable {
        /// `OVERALL` or a series name.
        public let series: String
        /// `Throughput(ops/sec)`, `Operations`, `p50(us)`, `p95(us)`, `p99(us)`, `Max(us)`.
        public let metric: String
        /// nil when the series is missing on that side.
        public let base: Double?
        public let new: Double?

        /// (new − base) / base; nil when either side is missing or base is 0.
        public var relativeChange: Double? {
            guard let base, let new, base != 0 else { return nil }
            return (new - base) / base
        }
    }

    /// A threshold that NEW crossed.
    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        public let series: String
        public let metric: String
        /// The observed change as a fraction (drop for throughput, rise for p99).
        public let change: Double
        public let limit: Double
        public var description: String {
            let what = metric.hasPrefix("Throughput") ? "dropped" : "rose"
            return "\(series) \(metric) \(what) \(ResultComparison.percent(change)) (limit \(ResultComparison.percent(limit)))"
        }
    }

    /// Pass when no threshold is crossed.
    public enum Verdict: Sendable, Equatable {
        case pass
        case regression([Violation])
    }

    public let rows: [Row]
    public let thresholds: ComparisonThresholds
    public let verdict: Verdict

    /// Compares NEW against BASE: overall throughput, and per series present in either operations,
    /// p50, p95, p99 and max. Throughput may drop by at most `maxThroughputDrop`; each series' p99 present
    /// on both sides may rise by at most `maxP99Rise` (a p99 of 0 µs counts as 1 µs).
    public init(base: RunResult, new: RunResult, thresholds: ComparisonThresholds = ComparisonThresholds()) {
        self.thresholds = thresholds
        var rows = [Row(series: "OVERALL", metric: "Throughput(ops/sec)", base: base.throughput, new: new.throughput)]
        var violations: [Violation] = []
        if base.throughput > 0 {
            let drop = (base.throughput - new.throughput) / base.throughput
            if drop > thresholds.maxThroughputDrop {
                violations.append(Violation(series: "OVERALL", metric: "Throughput(ops/sec)", change: drop, limit: thresholds.maxThroughputDrop))
            }
        }
        var names = base.series.map(\.name)
        for s in new.series where !names.contains(s.name) { names.append(s.name) }
        let percentiles: [Double] = [50, 95, 99]
        for name in names {
            let b = base.series(named: name).map { LatencyStatistics($0.histogram, percentiles: percentiles) }
            let n = new.series(named: name).map { LatencyStatistics($0.histogram, percentiles: percentiles) }
            func row(_ metric: String, _ f: (LatencyStatistics) -> Double) -> Row {
                Row(series: name, metric: metric, base: b.map(f), new: n.map(f))
            }
            rows.append(row("Operations") { Double($0.count) })
            // Histograms are in ns: the µs columns keep the fraction (0.41 µs, not 0).
            rows.append(row("p50(us)") { LatencyUnits.microseconds($0.percentiles[0].value) })
            rows.append(row("p95(us)") { LatencyUnits.microseconds($0.percentiles[1].value) })
            rows.append(row("p99(us)") { LatencyUnits.microseconds($0.percentiles[2].value) })
            rows.append(row("Max(us)") { LatencyUnits.microseconds($0.max) })
            if let b, let n, b.count > 0, n.count > 0 {
                let bp = max(1, LatencyUnits.microseconds(b.percentiles[2].value)), np = LatencyUnits.microseconds(n.percentiles[2].value)
                let rise = (np - bp) / bp
                if rise > thresholds.maxP99Rise {
                    violations.append(Violation(series: name, metric: "p99(us)", change: rise, limit: thresholds.maxP99Rise))
                }
            }
        }
        self.rows = rows
        verdict = violations.isEmpty ? .pass : .regression(violations)
    }

    /// The crossed thresholds (empty when passing).
    public var violations: [Violation] {
        if case let .regression(v) = verdict { return v }
        return []
    }

    // MARK: Rendering

    static let header = ["series", "metric", "base", "new", "change"]

    func cells(_ row: Row) -> [String] {
        [row.series, row.metric, Self.number(row.base), Self.number(row.new),
         row.relativeChange.map { ($0 >= 0 ? "+" : "") + Self.percent($0) } ?? "-"]
    }

    /// A side-by-side plain-text table with aligned columns, then the verdict.
    public func textTable() -> String {
        let table = [Self.header] + rows.map(cells)
        let widths = (0..<Self.header.count).map { column in table.map { $0[column].count }.max()! }
        let lines = table.map { cells in
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i < 2 ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return (lines + ["", verdictText()]).joined(separator: "\n") + "\n"
    }

    /// A GitHub-flavoured Markdown table, then the verdict.
    public func markdownTable() -> String {
        var lines = ["| " + Self.header.joined(separator: " | ") + " |", "|---|---|---:|---:|---:|"]
        lines += rows.map { "| " + cells($0).joined(separator: " | ") + " |" }
        let verdict = self.violations.isEmpty ? ["", "**PASS** — " + thresholdText()] :
            ["", "**REGRESSION** — " + thresholdText()] + violations.map { "- \($0)" }
        return (lines + verdict).joined(separator: "\n") + "\n"
    }

    func verdictText() -> String {
        violations.isEmpty ? "PASS (\(thresholdText()))"
            : (["REGRESSION (\(thresholdText()))"] + violations.map { "  - \($0)" }).joined(separator: "\n")
    }

    func thresholdText() -> String {
        "max throughput drop \(Self.percent(thresholds.maxThroughputDrop)), max p99 rise \(Self.percent(thresholds.maxP99Rise))"
    }

    static func number(_ value: Double?) -> String {
        guard let value else { return "-" }
        return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.2f", value)
    }

    static func percent(_ fraction: Double) -> String {
        String(format: "%.1f%%", fraction * 100)
    }
}
