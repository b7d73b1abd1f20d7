// `kvlab load`, `run`, `merge` and `compare` as a user runs them, output checked line by line.

import Foundation
import Testing

/// The repository's `workloads/` folder.
let workloads = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("workloads")

func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-\(getpid())-\(name)").path
}

@Suite("kvlab load / run / merge / compare")
struct WorkloadCLITests {

    @Test("kvlab run prints YCSB's result format, line for line", arguments: ["workloada", "workloadd", "workloadf"])
    func runOutputShape(file: String) throws {
        let run = try KVLabProcess.run(["run", "-P", workloads.appendingPathComponent(file).path, "-threads", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count > 10)
        #expect(lines[0].hasPrefix("[OVERALL], RunTime(ms), "))
        #expect(lines[1].hasPrefix("[OVERALL], Throughput(ops/sec), "))
        // YCSB's result line shape: `[SERIES], Metric, number`.
        let ycsbLine = #/^\[[A-Za-z0-9_\-]+\], [^,]+, -?[0-9]+(\.[0-9]+)?(E-?[0-9]+)?$/#
        for line in lines { #expect(line.wholeMatch(of: ycsbLine) != nil, "not YCSB-shaped: \(line)") }
        for metric in ["Operations", "AverageLatency(us)", "MinLatency(us)", "MaxLatency(us)",
                       "95thPercentileLatency(us)", "99thPercentileLatency(us)", "Return=OK"] {
            #expect(lines.contains { $0.hasPrefix("[READ], \(metric), ") }, "no [READ], \(metric)")
        }
    }

    @Test("kvlab load inserts recordcount records and reports INSERT")
    func load() throws {
        let run = try KVLabProcess.run(["load", "-P", workloads.appendingPathComponent("workloada").path, "--engine", "hash"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("[INSERT], Operations, 1000\n"))
        #expect(run.stdout.contains("[INSERT], Return=OK, 1000\n"))
    }

    @Test("a bad property value is an error naming the file, line and property, with exit status 2")
    func badProperty() throws {
        let path = temporaryPath("bad-workload")
        try "recordcount=100\n# comment\nreadproportion=abc\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run = try KVLabProcess.run(["run", "-P", path])
        #expect(run.status == 2)
        #expect(run.stderr.contains("\(path):3"), "\(run.stderr)")
        #expect(run.stderr.contains("readproportion"), "\(run.stderr)")
    }

    @Test("unknown properties are listed in a warning and the run goes on")
    func unknownProperty() throws {
        let run = try KVLabProcess.run(["run", "-P", workloads.appendingPathComponent("workloadc").path, "-p", "readproportoin=1"])
        #expect(run.status == 0)
        #expect(run.stderr.contains("warning: unknown property 'readproportoin'"), "\(run.stderr)")
    }

    @Test("workload E on an engine without ordered scans fails naming the capability")
    func scanNeedsOrderedEngine() throws {
        let run = try KVLabProcess.run(["run", "-P", workloads.appendingPathComponent("workloade").path, "--engine", "hash"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("engine 'hash' lacks the ordered-scan capability"), "\(run.stderr)")
    }

    @Test("--export json writes a result file that merge combines and compare gates on")
    func exportMergeCompare() throws {
        let a = temporaryPath("a.json"), b = temporaryPath("b.json"), merged = temporaryPath("merged.json")
        let slow = temporaryPath("slow.json")
        defer { for p in [a, b, merged, slow] { try? FileManager.default.removeItem(atPath: p) } }
        let workload = workloads.appendingPathComponent("workloadb").path
        let common = ["run", "-P", workload, "-p", "recordcount=5000", "--engine", "hash"]
        #expect(try KVLabProcess.run(common + ["-p", "operationcount=20000", "--export", "json", a]).status == 0)
        #expect(try KVLabProcess.run(common + ["-p", "operationcount=10000", "--export", "json", b]).status == 0)

        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a))) as? [String: Any])
        #expect(document["format"] as? String == "kvlab-result")
        let series = try #require(document["series"] as? [[String: Any]])
        #expect(series.contains { $0["name"] as? String == "READ" && ($0["histogram"] as? String)?.hasPrefix("HISTF") == true })
        // The run's peak memory, from the allocator kvlab runs on (jemalloc by default).
        let memory = try #require((document["metadata"] as? [String: Any])?["memory"] as? [String: Any])
        #expect((memory["allocator"] as? String)?.hasPrefix("jemalloc-") == true)
        #expect((memory["peakAllocatedBytes"] as? Int ?? 0) > 5000 * 1000)
        #expect((memory["peakResidentBytes"] as? Int ?? 0) > 0)

        let merge = try KVLabProcess.run(["merge", a, b, "--output", merged])
        #expect(merge.status == 0, "\(merge.stderr)")
        let reads = merge.stdout.split(separator: "\n").first { $0.hasPrefix("[READ], Operations, ") }
        let updates = merge.stdout.split(separator: "\n").first { $0.hasPrefix("[UPDATE], Operations, ") }
        let total = [reads, updates].compactMap { $0.flatMap { Int($0.split(separator: " ").last!) } }.reduce(0, +)
        #expect(total == 30_000, "\(merge.stdout)")

        let same = try KVLabProcess.run(["compare", a, a])
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
        #expect(same.stdout.contains("verdict: pass"))

        // The same workload throttled to a tenth of the throughput must fail the gate.
        #expect(try KVLabProcess.run(common + ["-p", "operationcount=2000", "-target", "2000", "--export", "json", slow]).status == 0)
        let regression = try KVLabProcess.run(["compare", a, slow, "--max-throughput-drop", "5%", "--format", "markdown"])
        #expect(regression.status == 1, "\(regression.stdout)\(regression.stderr)")
        #expect(regression.stdout.contains("verdict: regression"))
        #expect(regression.stdout.contains("|"))
    }

    @Test("compare and merge answer bad input with exit status 2 and the file's name")
    func badResultFiles() throws {
        let junk = temporaryPath("junk.json")
        try "{\"format\": \"kvlab-result\", \"version\": 1, \"series\": [".write(toFile: junk, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: junk) }
        let compare = try KVLabProcess.run(["compare", junk, junk])
        #expect(compare.status == 2)
        #expect(compare.stderr.contains(junk), "\(compare.stderr)")
        let merge = try KVLabProcess.run(["merge", "/nonexistent/result.json"])
        #expect(merge.status == 2)
        #expect(merge.stderr.contains("/nonexistent/result.json"), "\(merge.stderr)")
    }
}
