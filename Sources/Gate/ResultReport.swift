// `kvlab report`: a markdown table and a standalone HTML page with SVG plots from result files.

import Foundation
import Measurement
import Plotting

/// A report over result files: a table per file and series, and plots of throughput and latency
/// across the runs (in start-time order) and of each run's percentile spectrum.
///
/// Result files keep whole-run histograms, not per-interval ones, so "over time" here is across
/// runs (a history of baselines, or repeats); a run's own timeline is not in the file format.
public struct ResultReport: Sendable {
    /// The runs, sorted by start time.
    public let runs: [SourcedResult]

    /// Percentiles of the spectrum plot.
    static let spectrumPercentiles: [Double] = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999]

    /// Sorts `runs` by start time (then source name) so plots read left to right.
    public init(runs: [SourcedResult]) {
        self.runs = runs.sorted { ($0.result.metadata.startTime, $0.source) < ($1.result.metadata.startTime, $1.source) }
    }

    /// The operation mix of a run as "read 0.5 update 0.5", from its properties.
    static func mix(_ metadata: RunMetadata) -> String {
        let names = ["read", "update", "insert", "scan", "readmodifywrite", "delete"]
        let parts = names.compactMap { name -> String? in
            guard let value = metadata.properties[name + "proportion"], let number = Double(value), number > 0 else { return nil }
            return "\(name) \(value)"
        }
        return parts.isEmpty ? "-" : parts.joined(separator: " ")
    }

    /// Nanoseconds as µs for the table: whole µs from 100 µs up, else up to three decimals (0.412).
    static func microseconds(_ nanos: UInt64) -> String {
        nanos >= 100_000 ? String(LatencyUnits.wholeMicroseconds(nanos)) : String(format: "%.3g", LatencyUnits.microseconds(nanos))
    }

    static func statistics(_ series: SeriesResult) -> LatencyStatistics {
        LatencyStatistics(series.histogram, percentiles: [50, 95, 99])
    }

    /// One row per run and series: file, engine, mix, threads, target, throughput, operations, p50/p95/p99/max.
    public func markdownTable() -> String {
        var lines = ["| run | engine | mix | threads | target | throughput (ops/s) | series | operations | p50 (µs) | p95 (µs) | p99 (µs) | max (µs) |",
                     "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
        for run in runs {
            let m = run.result.metadata
            for series in run.result.series where series.operations > 0 {
                let s = Self.statistics(series)
                let cells = [URL(fileURLWithPath: run.source).lastPathComponent, m.engine, Self.mix(m), String(m.threads),
                             m.target.map { String(format: "%.0f", $0) } ?? "-", String(format: "%.0f", run.result.throughput),
                             series.name, String(s.count), Self.microseconds(s.percentiles[0].value), Self.microseconds(s.percentiles[1].value),
                             Self.microseconds(s.percentiles[2].value), Self.microseconds(s.max)]
                lines.append("| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The plots: throughput across runs, p50/p99 across runs, and the percentile spectrum.
    /// - Throws: `PlotError` if a value cannot be drawn (cannot happen for valid result files).
    public func charts() throws(PlotError) -> [(title: String, svg: String)] {
        let x = runs.indices.map { Double($0 + 1) }
        let runAxis = Axis("run, in start-time order", unit: "#", range: runs.count > 1 ? 1...Double(runs.count) : 0.5...1.5)
        let throughput = LineChart(title: "Throughput per run", xAxis: runAxis, yAxis: Axis("throughput", unit: "ops/s"),
                                   series: [Series("OVERALL", x: x, y: runs.map { $0.result.throughput }, style: .lineWithMarkers)])
        var latencySeries: [Series] = []
        for name in plainSeriesNames() {
            var p50: [DataPoint] = [], p99: [DataPoint] = []
            for (index, run) in runs.enumerated() {
                guard let series = run.result.series(named: name), series.operations > 0 else { continue }
                let s = Self.statistics(series)
                // The histograms are in ns; a log axis cannot show 0, so values sit at 0.001 µs at least.
                p50.append(DataPoint(x: Double(index + 1), y: Swift.max(0.001, LatencyUnits.microseconds(s.percentiles[0].value))))
                p99.append(DataPoint(x: Double(index + 1), y: Swift.max(0.001, LatencyUnits.microseconds(s.percentiles[2].value))))
            }
            let color = defaultPalette[latencySeries.count / 2 % defaultPalette.count]
            latencySeries.append(Series("\(name) p50", points: p50, style: .lineWithMarkers, color: color, dashed: true))
            latencySeries.append(Series("\(name) p99", points: p99, style: .lineWithMarkers, color: color))
        }
        let latency = LineChart(title: "Latency p50 and p99 per run", xAxis: runAxis,
                                yAxis: Axis("latency", unit: "µs", scale: .logarithmic), series: latencySeries)
        var spectrum: [Series] = []
        let shown = runs.suffix(4)   // the newest runs: more lines stop being readable
        for run in shown {
            for series in run.result.series where series.operations > 0 && !series.name.hasSuffix("-FAILED") && series.name != "VERIFY" {
                let s = LatencyStatistics(series.histogram, percentiles: Self.spectrumPercentiles)
                let label = shown.count > 1 ? "\(series.name) · \(URL(fileURLWithPath: run.source).lastPathComponent)" : series.name
                spectrum.append(Series(label, x: Self.spectrumPercentiles,
                                       y: s.percentiles.map { Swift.max(0.001, LatencyUnits.microseconds($0.value)) }, style: .lineWithMarkers))
            }
        }
        let spectrumChart = LineChart(title: "Latency by percentile (newest runs)", xAxis: Axis("percentile", scale: .percentile),
                                      yAxis: Axis("latency", unit: "µs", scale: .logarithmic), series: Array(spectrum.prefix(10)),
                                      size: ChartSize(width: 860, height: 400))
        return [("throughput", try throughput.svg()), ("latency", try latency.svg()), ("spectrum", try spectrumChart.svg())]
    }

    func plainSeriesNames() -> [String] {
        var names: [String] = []
        for run in runs {
            for series in run.result.series where !names.contains(series.name) && !series.name.hasSuffix("-FAILED") && series.name != "VERIFY" {
                names.append(series.name)
            }
        }
        return names
    }

    /// A standalone HTML page (no scripts, no external resources): plots, then the table.
    public func html(title: String = "kvlab results") throws(PlotError) -> String {
        let charts = try charts()
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escapeHTML(title))</title>
        <style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}
        td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:nth-child(-n+3),th{text-align:left}
        figure{margin:12px 0}.note{color:#555;font-size:13px}</style></head><body>
        <h1>\(escapeHTML(title))</h1>
        <p class="note">\(runs.count) result file(s). Latencies come from each run's HdrHistogram (whole µs; values below 1 µs are drawn at 1 µs on the logarithmic axes).</p>

        """
        for chart in charts { page += "<figure>\n\(chart.svg)</figure>\n" }
        page += "<h2>Runs</h2>\n<table>\n<tr><th>run</th><th>engine</th><th>mix</th><th>threads</th><th>target</th><th>throughput (ops/s)</th><th>series</th><th>operations</th><th>p50 (µs)</th><th>p95 (µs)</th><th>p99 (µs)</th><th>max (µs)</th></tr>\n"
        for line in markdownTable().split(separator: "\n").dropFirst(2) {
            let cells = line.dropFirst(2).dropLast(2).components(separatedBy: " | ").map { $0.replacingOccurrences(of: "\\|", with: "|") }
            page += "<tr>" + cells.map { "<td>\(escapeHTML($0))</td>" }.joined() + "</tr>\n"
        }
        page += "</table>\n</body></html>\n"
        return page
    }
}

func escapeHTML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
