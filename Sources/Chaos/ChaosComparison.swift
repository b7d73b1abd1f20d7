// Write-availability gaps per fault, and one report (text, JSON, HTML) comparing chaos runs side by side (Redis + Sentinel vs etcd).

import Foundation
import History
import Plotting

/// How long the clients went without an acknowledged write around each fault: the measure of
/// "availability dropped while a new primary (leader) was chosen", at the history's precision
/// (nanoseconds) rather than the per-second buckets'.
public struct WriteGap: Sendable, Equatable, Codable {
    public var kind: String
    public var targets: [String]
    /// The fault's start and heal, seconds since the run's start.
    public var start: Double
    public var end: Double?
    /// The longest interval in [start, window end] with no write acknowledged (`ok` add, write
    /// or cas), counting from the start to the first acknowledgement and from the last to the
    /// window's end. The window ends at the next fault's start or 5 s after the heal.
    public var longestGapSeconds: Double
    /// Where that longest gap began and ended.
    public var gapFrom: Double
    public var gapTo: Double
    /// Seconds from the fault's start to the acknowledgement that ended the longest gap, i.e.
    /// when writes resumed (nil: they did not within the window).
    public var writesResumedAt: Double?
}

/// Computes `WriteGap`s from a chaos run's history.
public enum WriteAvailability {
    /// - Parameters:
    ///   - history: the run's history (event times in nanoseconds on the runner's clock).
    ///   - startTime: the run's zero on the same clock.
    ///   - faults: the report's fault windows.
    public static func gaps(_ history: History, startTime: Int64, faults: [FaultWindow]) -> [WriteGap] {
        var acknowledged: [Double] = []
        for event in history.events where event.kind == .ok && ["add", "write", "cas"].contains(event.function) {
            if let time = event.time { acknowledged.append(Double(time - startTime) / 1e9) }
        }
        acknowledged.sort()
        var result: [WriteGap] = []
        for (index, fault) in faults.enumerated() {
            let next = index + 1 < faults.count ? faults[index + 1].start : Double.infinity
            let windowEnd = min(next, (fault.end ?? fault.start) + 5)
            var previous = fault.start
            var best = (length: 0.0, from: fault.start, to: fault.start)
            for time in acknowledged where time > fault.start && time <= windowEnd {
                if time - previous > best.length { best = (time - previous, previous, time) }
                previous = time
            }
            var resumed: Double? = best.to > fault.start ? HistoryAnalysis.round3(best.to - fault.start) : nil
            if windowEnd - previous > best.length {
                best = (windowEnd - previous, previous, windowEnd)
                resumed = nil
            }
            result.append(WriteGap(kind: fault.kind, targets: fault.targets, start: fault.start, end: fault.end,
                                   longestGapSeconds: HistoryAnalysis.round3(best.length), gapFrom: HistoryAnalysis.round3(best.from),
                                   gapTo: HistoryAnalysis.round3(best.to), writesResumedAt: resumed))
        }
        return result
    }
}

/// A chaos workload that keeps the history it returned and when its run began (for analyses
/// the report does not carry, such as `WriteAvailability`).
public final class RecordingWorkload: ChaosWorkload, @unchecked Sendable {
    let inner: ChaosWorkload
    private let lock = NSLock()
    private var recorded: History?
    private var started: Int64?
    let clock: @Sendable () -> Int64

    /// - Parameter clock: nanoseconds on the runner's clock (`run` is called right after the
    ///   runner takes its start time, so this marks the run's zero within a millisecond).
    public init(_ inner: ChaosWorkload, clock: @escaping @Sendable () -> Int64) {
        self.inner = inner
        self.clock = clock
    }

    /// The last history returned (with final reads, once they ran).
    public var history: History? { lock.withLock { recorded } }
    /// When `run` was entered, on the clock.
    public var startTime: Int64? { lock.withLock { started } }

    public func run(stop: @escaping @Sendable () -> Bool) throws -> History {
        lock.withLock { started = clock() }
        let history = try inner.run(stop: stop)
        lock.withLock { recorded = history }
        return history
    }

    public func finalReads(appendingTo history: History) throws -> History {
        let result = try inner.finalReads(appendingTo: history)
        lock.withLock { recorded = result }
        return result
    }
}

/// Chaos runs side by side: the same schedule on different stores.
public struct ChaosComparison: Sendable, Equatable, Codable {
    /// One run's figures.
    public struct Run: Sendable, Equatable, Codable {
        public var name: String
        public var cluster: String
        public var store: String
        public var workload: String
        public var nemesis: String
        public var seed: UInt64
        public var operations: Int
        public var ok: Int
        public var fail: Int
        public var info: Int
        /// Set workload: acknowledged adds and how many of them the final reads lack.
        public var acknowledgedWrites: Int?
        public var lostAcknowledgedWrites: Int?
        /// Register workload: "linearizable", "violation" or "unknown".
        public var linearizability: String?
        public var dualPrimarySeconds: Double
        public var p50Milliseconds: Double?
        public var p99Milliseconds: Double?
        public var seconds: [SecondSummary]
        public var faults: [FaultWindow]
        /// Per fault, the longest stretch without an acknowledged write (nil: the report has none).
        public var writeGaps: [WriteGap]?
        /// Register runs: stale reads found (nil: not computed).
        public var staleReads: Int?
        public var findings: [String]
    }

    public var formatVersion = 1
    public var runs: [Run]

    /// Builds the comparison from reports (in the order given).
    public init(_ reports: [ChaosReport]) {
        runs = reports.map { r in
            let e = r.experiment
            return Run(name: e.name, cluster: e.cluster, store: e.engine, workload: e.workload,
                       nemesis: e.nemesis.isEmpty ? "none" : "\(e.nemesis.joined(separator: ",")) on \(e.nemesisTarget), every \(e.nemesisIntervalSeconds) s for \(e.faultDurationSeconds) s"
                           + (e.nemesis.contains { $0.hasPrefix("lag") } ? ", lag \(e.lagMilliseconds) ms" : ""),
                       seed: e.seed, operations: r.analysis.totals.operations, ok: r.analysis.totals.ok,
                       fail: r.analysis.totals.fail, info: r.analysis.totals.info,
                       acknowledgedWrites: r.analysis.set?.acknowledged, lostAcknowledgedWrites: r.analysis.set?.lost.count,
                       linearizability: r.analysis.register?.verdict, dualPrimarySeconds: r.analysis.splitBrain.dualPrimarySeconds,
                       p50Milliseconds: r.analysis.totals.p50Milliseconds, p99Milliseconds: r.analysis.totals.p99Milliseconds,
                       seconds: r.analysis.seconds, faults: r.faults, writeGaps: r.writeGaps,
                       staleReads: r.staleReads?.staleReads, findings: r.findings)
        }
    }

    /// Pretty-printed JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    static func cell(_ value: Double?) -> String { value.map { String($0) } ?? "-" }

    /// The summary table and the per-second series side by side, for a terminal.
    public func text() -> String {
        var out = "kvlab chaos comparison: \(runs.map(\.name).joined(separator: " vs "))\n"
        let rows: [(String, (Run) -> String)] = [
            ("store", { $0.store }), ("workload", { $0.workload }), ("nemesis", { $0.nemesis }), ("seed", { String($0.seed) }),
            ("operations ok/fail/info", { "\($0.ok)/\($0.fail)/\($0.info) of \($0.operations)" }),
            ("acknowledged writes", { $0.acknowledgedWrites.map(String.init) ?? "-" }),
            ("LOST acknowledged writes", { $0.lostAcknowledgedWrites.map(String.init) ?? "-" }),
            ("linearizability", { $0.linearizability ?? "- (set workload)" }),
            ("stale reads", { $0.staleReads.map(String.init) ?? "-" }),
            ("two primaries at once (s)", { String($0.dualPrimarySeconds) }),
            ("latency p50 / p99 (ms)", { "\(Self.cell($0.p50Milliseconds)) / \(Self.cell($0.p99Milliseconds))" }),
            ("longest write gap per fault (s)", { run in
                run.writeGaps.map { gaps in gaps.map { "\($0.kind)@\($0.start): \($0.longestGapSeconds)" }.joined(separator: "; ") } ?? "-" }),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        for (label, value) in rows {
            out += label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + runs.map(value).joined(separator: "  |  ") + "\n"
        }
        out += "\nper second: ok ops/s and p99 ms (" + runs.map(\.name).joined(separator: " | ") + "); * = a fault active\n"
        let last = runs.flatMap { $0.seconds.map(\.second) }.max() ?? -1
        if last >= 0 {
            for second in 0...last {
                let t = Double(second) + 0.5
                let columns = runs.map { run -> String in
                    let s = run.seconds.first { $0.second == second }
                    let faulted = run.faults.contains { $0.start <= t && t < ($0.end ?? .infinity) }
                    return "\(faulted ? "*" : " ")\(String(s?.ok ?? 0).leftPadded(6)) \(Self.cell(s?.p99Milliseconds).leftPadded(9))"
                }
                out += String(second).leftPadded(4) + "  " + columns.joined(separator: "  |") + "\n"
            }
        }
        return out
    }

    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]

    /// A standalone page: the summary table, availability and p99 latency per second of every
    /// run on shared axes (each run's faults shaded in its colour), and each run's findings.
    public func html() -> String {
        let esc = ChaosReport.escape
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>kvlab chaos comparison</title>
        <style>
        body { font-family: sans-serif; margin: 24px; max-width: 960px; color: #222; }
        table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
        td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
        th { background: #f3f3f3; } .bad { color: #b00; font-weight: bold; } .good { color: #070; }
        </style></head><body>
        <h1>kvlab chaos comparison: \(esc(runs.map(\.name).joined(separator: " vs ")))</h1>

        """
        page += "<table><tr><th></th>" + runs.map { "<th>\(esc($0.name))</th>" }.joined() + "</tr>\n"
        func row(_ label: String, _ value: (Run) -> (String, String?)) {
            page += "<tr><th>\(esc(label))</th>" + runs.map { run in
                let (text, cls) = value(run)
                return "<td\(cls.map { " class=\"\($0)\"" } ?? "")>\(esc(text))</td>"
            }.joined() + "</tr>\n"
        }
        row("store") { ($0.store, nil) }
        row("workload") { ($0.workload, nil) }
        row("nemesis") { ("\($0.nemesis), seed \($0.seed)", nil) }
        row("operations ok / fail / info") { ("\($0.ok) / \($0.fail) / \($0.info) of \($0.operations)", nil) }
        row("acknowledged writes") { ($0.acknowledgedWrites.map(String.init) ?? "-", nil) }
        row("lost acknowledged writes") { run in
            (run.lostAcknowledgedWrites.map(String.init) ?? "-", run.lostAcknowledgedWrites.map { $0 > 0 ? "bad" : "good" })
        }
        row("linearizability") { run in
            (run.linearizability ?? "- (set workload)", run.linearizability.map { $0 == "violation" ? "bad" : $0 == "linearizable" ? "good" : nil } ?? nil)
        }
        row("stale reads") { ($0.staleReads.map(String.init) ?? "-", $0.staleReads.map { $0 > 0 ? "bad" : "good" }) }
        row("two primaries at once (s)") { (String($0.dualPrimarySeconds), nil) }
        row("latency p50 / p99 (ms)") { ("\(Self.cell($0.p50Milliseconds)) / \(Self.cell($0.p99Milliseconds))", nil) }
        row("longest write gap per fault") { run in
            (run.writeGaps.map { gaps in gaps.map { "\($0.kind) at \($0.start) s: \($0.longestGapSeconds) s (\($0.gapFrom)–\($0.gapTo))" }.joined(separator: "; ") } ?? "-", nil)
        }
        page += "</table>\n"
        let xMax = Double(runs.flatMap { $0.seconds.map(\.second) }.max() ?? 0) + 1
        let time = Axis("time since start", unit: "s", range: 0...max(1, xMax))
        var windows: [ShadedWindow] = []
        for (index, run) in runs.enumerated() {
            windows += run.faults.map { ShadedWindow(from: $0.start, to: max($0.start, $0.end ?? xMax), label: "\(run.name): \($0.kind)",
                                                     color: Self.colors[index % Self.colors.count]) }
        }
        func series(_ value: @escaping (SecondSummary) -> Double?) -> [Series] {
            runs.enumerated().map { index, run in
                Series(run.name, points: run.seconds.compactMap { s in value(s).map { DataPoint(x: Double(s.second) + 0.5, y: $0) } },
                       style: .lineWithMarkers, color: Self.colors[index % Self.colors.count])
            }
        }
        page += "<h2>Availability: acknowledged operations per second</h2>\n"
        page += ChaosReport.render(LineChart(title: "ok operations per second (shaded: faults)", xAxis: time,
                                             yAxis: Axis("throughput", unit: "ops/s"), series: series { Double($0.ok) },
                                             windows: windows, size: ChaosReport.chartSize))
        page += "<h2>Latency per second (p99 of ok operations)</h2>\n"
        page += ChaosReport.render(LineChart(title: "p99 latency per second (shaded: faults)", xAxis: time,
                                             yAxis: Axis("latency", unit: "ms"), series: series(\.p99Milliseconds),
                                             windows: windows, size: ChaosReport.chartSize))
        for run in runs {
            page += "<h2>\(esc(run.name)): findings and faults</h2>\n<ul>\n"
            for finding in run.findings { page += "<li>\(esc(finding))</li>\n" }
            page += "</ul>\n<table><tr><th>start (s)</th><th>heal (s)</th><th>fault</th><th>what was done</th></tr>\n"
            for f in run.faults {
                page += "<tr><td>\(f.start)</td><td>\(f.end.map { "\($0)" } ?? "never")</td><td>\(esc(f.kind))</td><td>\(esc(f.detail))</td></tr>\n"
            }
            page += "</table>\n"
        }
        return page + "</body></html>\n"
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
