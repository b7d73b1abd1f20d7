// `--server` and its old spelling `--target`, beside YCSB's `-target`; `--statuses ycsb`.

import Foundation
import KVLabTestSupport
import Testing

@Suite("--server, --target and --statuses", .serialized)
struct ServerOptionsCLITests {
    func run(_ phase: String, _ workload: String, _ extra: [String]) throws -> KVLabRun {
        // threadcount as a property, not `-threads`: argument-parser reads `-threads` as the
        // short flags -t -h -r ..., and on a validation error its -h prints the help and exits 0.
        try KVLabProcess.run([phase, "-P", workloads.appendingPathComponent(workload).path,
                              "-p", "recordcount=200", "-p", "operationcount=300", "-p", "threadcount=1"] + extra)
    }

    /// The count after `[SERIES], Return=STATUS, ` in YCSB's text output, or 0.
    func returned(_ output: String, _ series: String, _ status: String) -> Int {
        for line in output.split(separator: "\n") where line.hasPrefix("[\(series)], Return=\(status), ") {
            return Int(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    @Test("--server takes the URL; --target URL still works; --target with a rate names -target; -target stays the rate")
    func spellings() throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let url = "redis://127.0.0.1:\(redis.port)"
        let load = try run("load", "workloadc", ["--server", url, "--no-scan-index"])
        #expect(load.status == 0 && returned(load.stdout, "INSERT", "OK") == 200, "\(load.stdout)\(load.stderr)")
        // The old spelling, and YCSB's one-dash rate next to it.
        let old = try run("run", "workloadc", ["--target", url, "-target", "3000"])
        #expect(old.status == 0 && returned(old.stdout, "READ", "OK") == 300, "\(old.stdout)\(old.stderr)")
        #expect(old.stdout.contains("[Intended-READ]"), "-target is still YCSB's rate")
        let confused = try run("run", "workloadc", ["--target", "3000"])
        #expect(confused.status != 0)
        #expect(confused.stderr.contains("old spelling of --server") && confused.stderr.contains("-target 3000"), "\(confused.stderr)")
        let both = try run("run", "workloadc", ["--server", url, "--target", url])
        #expect(both.status != 0 && both.stderr.contains("--server and --target"), "\(both.stderr)")
        let help = try KVLabProcess.run(["run", "--help"])
        #expect(help.stdout.contains("--server <url>"))
        #expect(!help.stdout.contains("--target <"), "the old spelling is hidden from the help")
        #expect(help.stdout.contains("-target <target>"))
    }

    @Test("--statuses ycsb reports what YCSB's Redis binding reports: missing records are ERROR, one-field reads OK")
    func ycsbStatuses() throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        let url = "redis://127.0.0.1:\(redis.port)"
        // Nothing loaded: every read misses, every delete removes nothing.
        let misses = ["-p", "readproportion=0.5", "-p", "deleteproportion=0.5", "-p", "updateproportion=0", "-p", "requestdistribution=uniform"]
        let kvlab = try run("run", "workloadc", ["--server", url] + misses)
        #expect(kvlab.status == 0, "\(kvlab.stderr)")
        #expect(returned(kvlab.stdout, "READ", "NOT_FOUND") + returned(kvlab.stdout, "DELETE", "NOT_FOUND") == 300, "\(kvlab.stdout)")
        let ycsb = try run("run", "workloadc", ["--server", url, "--statuses", "ycsb"] + misses)
        #expect(ycsb.status == 0, "\(ycsb.stderr)")
        #expect(returned(ycsb.stdout, "READ", "ERROR") + returned(ycsb.stdout, "DELETE", "ERROR") == 300, "\(ycsb.stdout)")
        #expect(!ycsb.stdout.contains("NOT_FOUND"))
        // One field (HMGET answers [nil]): YCSB's binding counts the field it got back as a read.
        let oneField = try run("run", "workloadc", ["--server", url, "--statuses", "ycsb", "-p", "readallfields=false"])
        #expect(returned(oneField.stdout, "READ", "OK") == 300, "\(oneField.stdout)\(oneField.stderr)")
        let bad = try run("run", "workloadc", ["--server", url, "--statuses", "java"])
        #expect(bad.status != 0 && bad.stderr.contains("--statuses java: expected kvlab or ycsb"), "\(bad.stderr)")
    }
}
