// One chaos run's report: the experiment, the fault timeline and the analysis, as text, JSON and HTML.

import Foundation
import Plotting

/// The experiment's settings as the report records them.
public struct ExperimentSummary: Sendable, Equatable, Codable {
    public var name: String
    public var path: String
    public var cluster: String
    public var engine: String
    public var replicas: Int
    public var sentinels: Int
    public var ack: String
    public var fencing: String
    public var workload: String
    public var clients: Int
    public var keys: Int
    public var durationSeconds: Double
    public var nemesis: [String]
    public var nemesisTarget: String
    public var nemesisIntervalSeconds: Double
    public var faultDurationSeconds: Double
    public var seed: UInt64
    public var lagMilliseconds: Int
    public var settleSeconds: Double

    public init(_ e: Experiment) {
        name = e.name
        path = e.path
        cluster = e.cluster.rawValue
        engine = switch e.cluster {
        case .kvlab: e.engine + (e.persistentNodes ? " (files on disk\(e.appendfsync.map { ", appendfsync \($0)" } ?? ""))" : "")
        case .redis: "redis-server"
        case .etcd: "etcd (\(e.readConsistency.rawValue) reads\(e.pinnedClients ? ", pinned clients" : ""))"
        }
        replicas = e.replicas
        sentinels = e.sentinels
        ack = e.ack.description
        fencing = e.fencing?.description ?? "none"
        workload = e.workload.description
        clients = e.clients
        keys = e.keys
        durationSeconds = e.durationSeconds
        nemesis = e.nemesis.kinds.map(\.rawValue)
        nemesisTarget = e.nemesis.target.rawValue
        nemesisIntervalSeconds = e.nemesis.intervalSeconds
        faultDurationSeconds = e.nemesis.faultDurationSeconds
        seed = e.nemesis.seed
        lagMilliseconds = e.nemesis.lagMilliseconds
        settleSeconds = e.settleSeconds
    }
}

/// Everything one `kvlab chaos` run found. JSON field names are the property names; they are
/// stable (`formatVersion` changes if they ever do).
public struct ChaosReport: Sendable, Equatable, Codable {
    public var formatVersion: Int
    public var experiment: ExperimentSummary
    /// The command line that produced it.
    public var command: String
    /// Wall-clock start, ISO 8601 UTC.
    public var startedAt: String
    /// Seconds from the start to the end of the final reads.
    public var runSeconds: Double
    public var faults: [FaultWindow]
    public var analysis: ChaosAnalysis
    /// The report's conclusions in one sentence each (lost writes, verdicts, split brain).
    public var findings: [String]
    /// What happened to the run itself (a node that did not restart, a failover that never
    /// came): context for the figures.
    public var notes: [String]
    /// Per fault, the longest stretch without an acknowledged write (set by `kvlab chaos` from
    /// the history; nil in reports written before it existed).
    public var writeGaps: [WriteGap]?
    /// Register runs: reads that returned an older value than one already acknowledged (set
    /// by `kvlab chaos` from the history; nil when not computed).
    public var staleReads: StaleReadAnalysis?

    public init(experiment: ExperimentSummary, command: String, startedAt: String, runSeconds: Double, faults: [FaultWindow],
                analysis: ChaosAnalysis, notes: [String] = []) {
        self.formatVersion = 1
        self.experiment = experiment
        self.command = command
        self.startedAt = startedAt
        self.runSeconds = runSeconds
        self.faults = faults
        self.analysis = analysis
        self.findings = ChaosReport.findings(analysis, faults: faults)
        self.notes = notes
    }

    /// The conclusions the figures support, worded for the summary.
    static func findings(_ a: ChaosAnalysis, faults: [FaultWindow]) -> [String] {
        var out: [String] = []
        let t = a.totals
        out.append("\(t.operations) operations: \(t.ok) ok, \(t.fail) failed, \(t.info) indeterminate (timeouts, dropped connections), \(t.pending) pending at the end")
        if let set = a.set {
            if set.keys.contains(where: { $0.finalReadSize == nil }) {
                out.append("set: some keys were never read back (no final read succeeded): loss unknown for them")
            }
            if set.lost.isEmpty {
                out.append("set: no acknowledged write lost (\(set.acknowledged) acknowledged of \(set.attempted) attempted adds)")
            } else {
                let first = set.lost.map(\.acknowledgedAt).min() ?? 0, last = set.lost.map(\.acknowledgedAt).max() ?? 0
                out.append("set: \(set.lost.count) acknowledged writes LOST of \(set.acknowledged) acknowledged (acknowledged between t=\(first) s and t=\(last) s)")
            }
            if !set.unexpected.isEmpty { out.append("set: \(set.unexpected.count) elements read that were never added") }
            if !set.recovered.isEmpty { out.append("set: \(set.recovered.count) indeterminate or failed adds are present in the final reads (recovered)") }
        }
        if let register = a.register {
            let bad = register.keys.filter { $0.verdict == "violation" }.map(\.key)
            let unknown = register.keys.filter { $0.verdict == "unknown" }.map(\.key)
            switch register.verdict {
            case "violation": out.append("register: NOT linearizable: violation on key\(bad.count == 1 ? "" : "s") \(bad.joined(separator: ", "))")
            case "unknown": out.append("register: verdict unknown on \(unknown.joined(separator: ", ")) (checker budget reached)")
            default: out.append("register: linearizable (\(register.keys.count) keys)")
            }
        }
        if a.splitBrain.samples > 0 {
            if a.splitBrain.windows.isEmpty {
                out.append("roles: never two primaries at once (\(a.splitBrain.samples) role samples)")
            } else {
                let acked = a.splitBrain.windows.map(\.acknowledgedWrites).reduce(0, +)
                let lost = a.splitBrain.windows.map(\.lostWrites).reduce(0, +)
                out.append("SPLIT BRAIN: two primaries for \(a.splitBrain.dualPrimarySeconds) s in \(a.splitBrain.windows.count) window\(a.splitBrain.windows.count == 1 ? "" : "s"); \(acked) writes acknowledged meanwhile, \(lost) of them lost")
            }
        }
        for loss in a.faultLosses where loss.lostWrites > 0 {
            out.append("\(loss.kind) at t=\(loss.start) s: \(loss.lostWrites) lost writes, acknowledged from \(loss.firstLostOffset ?? 0) s to \(loss.lastLostOffset ?? 0) s after the fault began (loss window)")
        }
        if faults.isEmpty { out.append("no faults injected") }
        return out
    }

    // MARK: - JSON

    /// The report as pretty-printed JSON with sorted keys.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    // MARK: - Text

    /// The terminal summary: settings, findings, per-fault losses, verdicts and the first lost writes.
    public func textSummary(maximumListed: Int = 10) -> String {
        let e = experiment
        var out = "kvlab chaos \(e.name): \(e.cluster) (\(e.engine)), \(e.replicas) replicas, \(e.sentinels) sentinels, ack \(e.ack), fencing \(e.fencing)\n"
        out += "  workload \(e.workload), \(e.clients) clients, \(e.keys) keys, \(e.durationSeconds) s; nemesis \(e.nemesis.isEmpty ? "none" : e.nemesis.joined(separator: ",")) every \(e.nemesisIntervalSeconds) s for \(e.faultDurationSeconds) s, seed \(e.seed)\n"
        let t = analysis.totals
        out += "  run \(runSeconds) s; latency of ok operations p50 \(t.p50Milliseconds.map { "\($0) ms" } ?? "-"), p99 \(t.p99Milliseconds.map { "\($0) ms" } ?? "-")\n"
        out += "faults:\n"
        if faults.isEmpty { out += "  none\n" }
        for f in faults {
            out += "  \(f.start)–\(f.end.map { "\($0)" } ?? "never healed") s  \(f.kind) \(f.targets.joined(separator: ",")): \(f.detail)\n"
        }
        out += "findings:\n"
        for finding in findings { out += "  - \(finding)\n" }
        if let set = analysis.set, !set.lost.isEmpty {
            out += "lost writes (first \(min(maximumListed, set.lost.count)) of \(set.lost.count)):\n"
            for lost in set.lost.prefix(maximumListed) {
                out += "  key \(lost.key) element \(lost.element): invoked t=\(lost.invokedAt) s, acknowledged t=\(lost.acknowledgedAt) s\n"
            }
        }
        if let register = analysis.register {
            for key in register.keys where key.verdict != "linearizable" {
                out += "key \(key.key): \(key.verdict)\(key.stopReason.map { " (\($0))" } ?? "")\n"
                if !key.startStates.isEmpty { out += "  from state \(key.startStates.joined(separator: " or "))\n" }
                for op in key.counterexample {
                    out += "  \(op.operation)   [\(op.invokedAt.map { "\($0)" } ?? "?")–\(op.completedAt.map { "\($0)" } ?? "?") s]\n"
                }
            }
        }
        for note in notes { out += "note: \(note)\n" }
        return out
    }

    // MARK: - HTML

    static let faultColor = "#d33"
    static let chartSize = ChartSize(width: 860, height: 300)

    /// A chart's SVG, or a note saying why it could not be drawn (the rest of the page stands).
    static func render(_ chart: LineChart) -> String {
        do { return try chart.svg() + "\n" } catch { return "<p class=\"bad\">chart not drawn: \(escape(error.description))</p>\n" }
    }

    static func render(_ chart: StackedChart) -> String {
        do { return try chart.svg() + "\n" } catch { return "<p class=\"bad\">chart not drawn: \(escape(error.description))</p>\n" }
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A standalone page (no scripts, no external files): summary, charts with the fault
    /// windows shaded, lost writes, verdicts with counterexamples, fault timeline.
    public func html() -> String {
        let esc = ChaosReport.escape
        let seconds = analysis.seconds
        let lastSecond = Double((seconds.last?.second ?? 0) + 1)
        let xMax = max(lastSecond, runSeconds, faults.compactMap(\.end).max() ?? 0)
        let windows = faults.map { ShadedWindow(from: $0.start, to: max($0.start, $0.end ?? xMax), label: $0.kind, color: ChaosReport.faultColor) }
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>kvlab chaos: \(esc(experiment.name))</title>
        <style>
        body { font-family: sans-serif; margin: 24px; max-width: 920px; color: #222; }
        table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
        td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
        th { background: #f3f3f3; }
        .bad { color: #b00; font-weight: bold; } .good { color: #070; } code { font-size: 12px; }
        </style></head><body>
        <h1>kvlab chaos: \(esc(experiment.name))</h1>
        <p><code>\(esc(command))</code><br>started \(esc(startedAt)), ran \(runSeconds) s</p>

        """
        let e = experiment
        page += "<table>"
        for (name, value) in [("cluster", "\(e.cluster) (\(e.engine)), \(e.replicas) replicas, \(e.sentinels) sentinels"),
                              ("acknowledgement", e.ack), ("fencing", e.fencing),
                              ("workload", "\(e.workload): \(e.clients) clients, \(e.keys) keys, \(e.durationSeconds) s"),
                              ("nemesis", e.nemesis.isEmpty ? "none" : "\(e.nemesis.joined(separator: ", ")) on \(e.nemesisTarget), every \(e.nemesisIntervalSeconds) s for \(e.faultDurationSeconds) s, lag \(e.lagMilliseconds) ms, seed \(e.seed)"),
                              ("settle", "\(e.settleSeconds) s")] {
            page += "<tr><th>\(name)</th><td>\(esc(value))</td></tr>"
        }
        page += "</table>\n<h2>Findings</h2>\n<ul>\n"
        for finding in findings {
            let bad = finding.contains("LOST") || finding.contains("NOT linearizable") || finding.contains("SPLIT BRAIN")
            page += "<li\(bad ? " class=\"bad\"" : "")>\(esc(finding))</li>\n"
        }
        for note in notes { page += "<li>note: \(esc(note))</li>\n" }
        page += "</ul>\n<h2>Throughput and latency</h2>\n"
        let time = Axis("time since start", unit: "s", range: 0...xMax)
        let middles = seconds.map { Double($0.second) + 0.5 }
        page += ChaosReport.render(LineChart(
            title: "Throughput: ok operations per second (shaded: faults)", xAxis: time, yAxis: Axis("throughput", unit: "ops/s"),
            series: [Series("ok ops/s", x: middles, y: seconds.map { Double($0.ok) }, style: .line, color: "#1f77b4")],
            windows: windows, size: ChaosReport.chartSize))
        func latency(_ name: String, _ color: String, _ value: (SecondSummary) -> Double?) -> Series {
            Series(name, points: seconds.compactMap { s in value(s).map { DataPoint(x: Double(s.second) + 0.5, y: $0) } },
                   style: .lineWithMarkers, color: color)
        }
        page += ChaosReport.render(LineChart(
            title: "Latency of ok operations per second (shaded: faults)", xAxis: time, yAxis: Axis("latency", unit: "ms"),
            series: [latency("p50", "#2ca02c", \.p50Milliseconds), latency("p99", "#ff7f0e", \.p99Milliseconds)],
            windows: windows, size: ChaosReport.chartSize))
        page += "<h2>Availability</h2>\n"
        page += ChaosReport.render(StackedChart(
            title: "Completions per second by outcome (shaded: faults)", xAxis: time, yAxis: Axis("operations", unit: "ops/s"),
            x: middles,
            layers: [StackedLayer("ok", values: seconds.map { Double($0.ok) }, color: "#2ca02c"),
                     StackedLayer("error (fail)", values: seconds.map { Double($0.fail) }, color: "#d62728"),
                     StackedLayer("timeout (info)", values: seconds.map { Double($0.info) }, color: "#9467bd")],
            style: .bars, windows: windows, size: ChaosReport.chartSize))

        page += "<h2>Fault timeline</h2>\n"
        if faults.isEmpty {
            page += "<p>No faults injected.</p>\n"
        } else {
            // The timeline: each fault a shaded window, and the number of faults active as a step line.
            var active: [DataPoint] = [DataPoint(x: 0, y: 0)]
            for f in faults {
                active.append(DataPoint(x: f.start, y: 1))
                active.append(DataPoint(x: f.end ?? xMax, y: 0))
            }
            page += ChaosReport.render(LineChart(
                title: "Fault timeline (start to heal)", xAxis: time, yAxis: Axis("faults active", unit: "count", range: 0...1.2),
                series: [Series("faults active", points: active, style: .step, color: ChaosReport.faultColor)],
                windows: faults.map { ShadedWindow(from: $0.start, to: max($0.start, $0.end ?? xMax),
                                                   label: "\($0.kind) \($0.targets.joined(separator: ","))", color: ChaosReport.faultColor) },
                size: ChartSize(width: 860, height: 200)))
            page += "<table><tr><th>start (s)</th><th>heal (s)</th><th>fault</th><th>targets</th><th>what was done</th></tr>\n"
            for f in faults {
                page += "<tr><td>\(f.start)</td><td>\(f.end.map { "\($0)" } ?? "never")</td><td>\(esc(f.kind))</td><td>\(esc(f.targets.joined(separator: ", ")))</td><td>\(esc(f.detail))</td></tr>\n"
            }
            page += "</table>\n"
        }

        if let set = analysis.set {
            page += "<h2>Acknowledged writes lost (set workload)</h2>\n"
            page += "<p>\(set.acknowledged) acknowledged of \(set.attempted) attempted adds; <span class=\"\(set.lost.isEmpty ? "good" : "bad")\">\(set.lost.count) lost</span>, \(set.unexpected.count) unexpected, \(set.recovered.count) recovered (indeterminate, yet present).</p>\n"
            page += "<table><tr><th>key</th><th>validity</th><th>attempted</th><th>acknowledged</th><th>final read</th><th>lost</th><th>recovered</th></tr>\n"
            for k in set.keys {
                page += "<tr><td>\(esc(k.key))</td><td>\(k.validity)</td><td>\(k.attempted)</td><td>\(k.acknowledged)</td><td>\(k.finalReadSize.map(String.init) ?? "never read")</td><td>\(k.lost)</td><td>\(k.recovered)</td></tr>\n"
            }
            page += "</table>\n"
            if !set.lost.isEmpty {
                page += "<table><tr><th>key</th><th>element</th><th>invoked (s)</th><th>acknowledged (s)</th></tr>\n"
                for lost in set.lost.prefix(500) {
                    page += "<tr><td>\(esc(lost.key))</td><td>\(esc(lost.element))</td><td>\(lost.invokedAt)</td><td>\(lost.acknowledgedAt)</td></tr>\n"
                }
                page += "</table>\n"
                if set.lost.count > 500 { page += "<p>... \(set.lost.count - 500) more in the JSON report.</p>\n" }
            }
        }
        if !analysis.faultLosses.isEmpty {
            page += "<h2>Loss per fault</h2>\n<table><tr><th>fault</th><th>start (s)</th><th>heal (s)</th><th>lost writes</th><th>first lost ack after start (s)</th><th>last lost ack after start (s)</th></tr>\n"
            for l in analysis.faultLosses {
                page += "<tr><td>\(esc(l.kind))</td><td>\(l.start)</td><td>\(l.end.map { "\($0)" } ?? "never")</td><td>\(l.lostWrites)</td><td>\(l.firstLostOffset.map { "\($0)" } ?? "-")</td><td>\(l.lastLostOffset.map { "\($0)" } ?? "-")</td></tr>\n"
            }
            page += "</table>\n"
        }
        if let register = analysis.register {
            page += "<h2>Linearizability (\(esc(register.model)) per key)</h2>\n"
            page += "<p>Checked in \(register.checkSeconds) s (limit \(register.checkTimeLimitSeconds) s, memory budget \(register.checkMaximumMemoryBytes >> 20) MiB).</p>\n"
            page += "<table><tr><th>key</th><th>verdict</th><th>operations</th><th>counterexample</th></tr>\n"
            for k in register.keys {
                var cell = ""
                if let why = k.stopReason { cell += esc(why) }
                if !k.startStates.isEmpty { cell += "from state " + esc(k.startStates.joined(separator: " or ")) + "<br>" }
                for op in k.counterexample {
                    cell += "<code>\(esc(op.operation))</code> [\(op.invokedAt.map { "\($0)" } ?? "?")–\(op.completedAt.map { "\($0)" } ?? "?") s]<br>"
                }
                if !k.counterexample.isEmpty && !k.counterexampleIsMinimal { cell += "(not shrunk to a minimal set: time ran out)" }
                let cls = k.verdict == "violation" ? "bad" : k.verdict == "linearizable" ? "good" : ""
                page += "<tr><td>\(esc(k.key))</td><td class=\"\(cls)\">\(k.verdict)</td><td>\(k.operations)</td><td>\(cell)</td></tr>\n"
            }
            page += "</table>\n"
        }
        page += "<h2>Split brain</h2>\n"
        if analysis.splitBrain.samples == 0 {
            page += "<p>No role samples were taken: no evidence either way.</p>\n"
        } else if analysis.splitBrain.windows.isEmpty {
            page += "<p class=\"good\">Never two primaries at once (\(analysis.splitBrain.samples) role samples).</p>\n"
        } else {
            page += "<table><tr><th>from (s)</th><th>to (s)</th><th>primaries</th><th>writes acknowledged</th><th>of them lost</th></tr>\n"
            for w in analysis.splitBrain.windows {
                page += "<tr><td>\(w.start)</td><td>\(w.end)</td><td>\(esc(w.primaries.joined(separator: ", ")))</td><td>\(w.acknowledgedWrites)</td><td>\(w.lostWrites)</td></tr>\n"
            }
            page += "</table>\n"
        }
        page += "</body></html>\n"
        return page
    }
}
