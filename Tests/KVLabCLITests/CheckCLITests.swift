// `kvlab check` as a user runs it: verdicts as exit statuses, reports, JSON, HTML; `--history`.

import Foundation
import Testing

@Suite("kvlab check")
struct CheckCLITests {
    static func temporaryFile(_ name: String, _ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-check-\(getpid())-\(name)").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let stale = """
    [{:process 0, :type :invoke, :f :write, :value 1}
     {:process 0, :type :ok, :f :write, :value 1}
     {:process 0, :type :invoke, :f :write, :value 2}
     {:process 0, :type :ok, :f :write, :value 2}
     {:process 1, :type :invoke, :f :read, :value nil}
     {:process 1, :type :ok, :f :read, :value 1}]
    """

    @Test("a linearizable history exits 0, a violation 1 with a counterexample, malformed input 2 with line and column")
    func exitStatuses() throws {
        let good = try Self.temporaryFile("good.edn", "[{:process 0, :type :invoke, :f :write, :value 1}\n{:process 0, :type :ok, :f :write, :value 1}]")
        let bad = try Self.temporaryFile("bad.edn", Self.stale)
        let broken = try Self.temporaryFile("broken.jsonl", "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":0,")
        defer { for p in [good, bad, broken] { try? FileManager.default.removeItem(atPath: p) } }

        let ok = try KVLabProcess.run(["check", good])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("overall: linearizable"))

        let violation = try KVLabProcess.run(["check", bad, "--model", "register"])
        #expect(violation.status == 1)
        #expect(violation.stdout.contains("minimal counterexample: this operation cannot be linearized"))
        #expect(violation.stdout.contains("p1 read -> 1"))
        #expect(violation.stdout.contains("longest linearizable prefix: 2 completed operations"))

        let malformed = try KVLabProcess.run(["check", broken])
        #expect(malformed.status == 2)
        #expect(malformed.stderr.contains("broken.jsonl:2:"), "\(malformed.stderr)")
        #expect(malformed.stderr.contains("expected"))

        let wrongModel = try KVLabProcess.run(["check", good, "--model", "mutex"])
        #expect(wrongModel.status == 2)
        #expect(wrongModel.stderr.contains("expected acquire or release"))
    }

    @Test("a search cut short by --timeout exits 3 with verdict unknown")
    func unknown() throws {
        var lines: [String] = []
        for p in 0..<40 { lines.append("{:process \(p), :type :invoke, :f :write, :value \(p)}") }
        for p in 40..<44 { lines.append("{:process \(p), :type :invoke, :f :read, :value nil}") }
        for p in 40..<44 { lines.append("{:process \(p), :type :ok, :f :read, :value \(1000 + p)}") }
        for p in 0..<40 { lines.append("{:process \(p), :type :ok, :f :write, :value \(p)}") }
        let hard = try Self.temporaryFile("hard.edn", "[" + lines.joined(separator: "\n") + "]")
        defer { try? FileManager.default.removeItem(atPath: hard) }
        let run = try KVLabProcess.run(["check", hard, "--timeout", "0.3", "--no-minimize"])
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("overall: unknown"))
        #expect(run.stdout.contains("timed out after linearizing 40 of 44 operations"))
    }

    @Test("--json prints one JSON document and --html writes a standalone page")
    func jsonAndHTML() throws {
        let bad = try Self.temporaryFile("bad2.edn", Self.stale)
        let html = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-check-\(getpid()).html").path
        defer { try? FileManager.default.removeItem(atPath: bad); try? FileManager.default.removeItem(atPath: html) }
        let run = try KVLabProcess.run(["check", bad, "--json", "--html", html])
        #expect(run.status == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(document["verdict"] as? String == "violation")
        let parts = try #require(document["partitions"] as? [[String: Any]])
        #expect((parts.first?["counterexample"] as? [[String: Any]])?.count == 1)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("op bad"))
    }

    @Test("kvlab run --history records a run that kvlab check finds linearizable, per key")
    func recordAndCheck() throws {
        let history = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-history-\(getpid()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: history) }
        let workload = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("workloads/workloada").path
        let run = try KVLabProcess.run(["run", "-P", workload, "-p", "recordcount=10", "-p", "operationcount=2000",
                                        "-threads", "4", "--engine", "hash", "--history", history])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("recorded 2010 operations"))
        let check = try KVLabProcess.run(["check", history])
        #expect(check.status == 0, "\(check.stdout)")
        #expect(check.stdout.contains("model kv"))
        #expect(check.stdout.contains("2010 operations in 10 parts"))
    }

    @Test("Jepsen log lines and Porcupine key-value logs are checked too")
    func otherFormats() throws {
        let log = try Self.temporaryFile("jepsen.log", """
        INFO  jepsen.util - 0\t:invoke\t:write\t3
        INFO  jepsen.util - 0\t:ok\t:write\t3
        INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]
        INFO  jepsen.util - 1\t:ok\t:cas\t[3 4]
        INFO  jepsen.util - 2\t:invoke\t:read\tnil
        INFO  jepsen.util - 2\t:ok\t:read\t3

        """)
        let porcupine = try Self.temporaryFile("kv.txt", """
        {:process 0, :type :invoke, :f :put, :key "1", :value "x"}
        {:process 0, :type :ok, :f :put, :key "1", :value "x"}
        {:process 1, :type :invoke, :f :append, :key "1", :value "y"}
        {:process 1, :type :ok, :f :append, :key "1", :value "y"}
        {:process 2, :type :invoke, :f :get, :key "1", :value nil}
        {:process 2, :type :ok, :f :get, :key "1", :value "xy"}

        """)
        defer { for p in [log, porcupine] { try? FileManager.default.removeItem(atPath: p) } }
        let stale = try KVLabProcess.run(["check", log])
        #expect(stale.status == 1, "\(stale.stdout)\(stale.stderr)")
        #expect(stale.stdout.contains("format jepsen-log, model cas-register"))
        let kv = try KVLabProcess.run(["check", porcupine, "--format", "porcupine"])
        #expect(kv.status == 0, "\(kv.stdout)\(kv.stderr)")
        #expect(kv.stdout.contains("model kv"))
    }
}
