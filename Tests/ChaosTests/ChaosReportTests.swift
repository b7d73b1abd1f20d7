// The chaos report's three forms from one hand-built run: JSON that parses back, HTML with its charts, the text summary.

import Chaos
import Foundation
import History
import Testing

@Suite("Chaos report")
struct ChaosReportTests {
    static func sampleReport() throws -> ChaosReport {
        func at(_ s: Double) -> Int64 { Int64(s * 1e9) }
        var events: [Event] = []
        var element: Int64 = 0
        // Two clients adding to one set for 6 s; the adds acknowledged in 3..4 s are lost.
        for tenth in 0..<60 {
            let t = Double(tenth) / 10
            element += 1
            events.append(Event(.invoke, process: tenth % 2, function: "add", key: .string("s0"), value: .integer(element), time: at(t)))
            events.append(Event(.ok, process: tenth % 2, function: "add", key: .string("s0"), value: .integer(element), time: at(t + 0.02)))
        }
        let kept = (1...element).filter { !(31...40).contains($0) }.map { Value.integer($0) }
        events.append(Event(.invoke, process: 0, function: "read", key: .string("s0"), time: at(7)))
        events.append(Event(.ok, process: 0, function: "read", key: .string("s0"), value: .set(kept), time: at(7.1)))
        let faults = [FaultWindow(kind: "kill", targets: ["n1"], start: 3.5, end: 5, detail: "SIGKILL n1")]
        let analysis = try HistoryAnalysis.analyse(History(events: events), startTime: 0, workload: .set, faults: faults)
        let experiment = try Experiment.parse("workload = set\nnemesis = kill\nnemesis.seed = 7\n", path: "experiments/sample.experiment")
        return ChaosReport(experiment: ExperimentSummary(experiment), command: "kvlab chaos experiments/sample.experiment",
                           startedAt: "2026-11-30T00:00:00Z", runSeconds: 7.1, faults: faults, analysis: analysis)
    }

    @Test("the JSON report parses back into the same report and names its fields as documented")
    func jsonRoundTrips() throws {
        let report = try Self.sampleReport()
        let json = try report.json()
        let decoded = try JSONDecoder().decode(ChaosReport.self, from: Data(json.utf8))
        #expect(decoded == report)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["formatVersion", "experiment", "command", "startedAt", "runSeconds", "faults", "analysis",
                                     "findings", "notes"])
        #expect(report.analysis.set?.lost.count == 10)
        #expect(report.findings.contains { $0.contains("10 acknowledged writes LOST") })
        #expect(report.analysis.faultLosses.first?.lostWrites == 10)
    }

    @Test("the HTML page is standalone, shades the fault window and lists the lost writes")
    func htmlHasChartsAndTables() throws {
        let html = try Self.sampleReport().html()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("chart not drawn"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)   // throughput, latency, availability, timeline
        #expect(html.contains("class=\"window\""))  // a shaded fault band
        #expect(html.contains("time since start (s)") && html.contains("latency (ms)") && html.contains("throughput (ops/s)"))
        #expect(html.contains("<td>s0</td><td>31</td>"))
    }

    @Test("the text summary states the loss and lists the first lost writes")
    func textSummary() throws {
        let text = try Self.sampleReport().textSummary(maximumListed: 3)
        #expect(text.contains("lost writes (first 3 of 10)"))
        #expect(text.contains("key s0 element 31"))
        #expect(text.contains("kill n1"))
    }
}
