// The `kvlab` binary as a user runs it: help, engines, bench, and errors on bad arguments.

import Foundation
import Testing

@Suite("kvlab command line")
struct KVLabCLITests {
    @Test("kvlab --help names every subcommand, and each subcommand has its own help")
    func help() throws {
        let top = try KVLabProcess.run(["--help"])
        #expect(top.status == 0)
        for sub in ["load", "run", "merge", "compare", "engines", "bench", "check"] {
            #expect(top.stdout.contains(sub))
            let help = try KVLabProcess.run([sub, "--help"])
            #expect(help.status == 0, "\(sub) --help: \(help.stderr)")
            #expect(help.stdout.contains("USAGE: kvlab \(sub)"))
        }
    }

    @Test("kvlab engines lists hash, skiplist and null with their capabilities")
    func engines() throws {
        let run = try KVLabProcess.run(["engines"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("hash\n"))
        #expect(run.stdout.contains("skiplist (default)"))
        #expect(run.stdout.contains("capabilities: stores-data, ordered-scan, atomic-batch"))
        #expect(run.stdout.contains("null\n"))
    }

    @Test("kvlab engines --json is valid JSON describing each engine")
    func enginesJSON() throws {
        let run = try KVLabProcess.run(["engines", "--json"])
        #expect(run.status == 0)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0["name"] as! String, $0) })
        #expect(Set(byName.keys).isSuperset(of: ["hash", "skiplist", "null"]))
        #expect((byName["skiplist"]?["capabilities"] as? [String])?.contains("ordered-scan") == true)
        #expect((byName["hash"]?["capabilities"] as? [String])?.contains("ordered-scan") == false)
    }

    @Test("kvlab bench prints one db_bench line per phase, a memory line, and JSON on request",
          arguments: ["hash", "skiplist", "null"])
    func bench(engine: String) throws {
        let jsonPath = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-bench-\(engine)-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: jsonPath) }
        let run = try KVLabProcess.run(["bench", "--engine", engine, "--num", "3000", "--json", jsonPath])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "kvlab bench: engine=\(engine) num=3000 key-size=16 value-size=100 seed=301")
        let measured = #/^(fillseq|fillrandom|overwrite|readrandom|readseq|deleterandom) +: +[0-9]+\.[0-9]{3} micros/op +[0-9]+ ops/sec;.*$/#
        let skipped = #/^readseq +: skipped \(engine '.*' has no ordered scan\)$/#
        for phase in ["fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "deleterandom"] {
            let line = try #require(lines.first { $0.hasPrefix(phase + " ") }, "no \(phase) line in \(run.stdout)")
            #expect(line.wholeMatch(of: measured) != nil || line.wholeMatch(of: skipped) != nil, "\(line)")
        }
        // After every phase: allocated and resident bytes per record against raw, and fragmentation.
        let memory = #/^memory       : (allocated [0-9]+\.[0-9] B/record \([0-9]+\.[0-9]{2}x raw 116 B\), resident -?[0-9]+\.[0-9] B/record \(-?[0-9]+\.[0-9]{2}x\)|allocated -?[0-9]+ B, resident -?[0-9]+ B with 0 records), fragmentation [0-9]+\.[0-9]{2} \[(libc|jemalloc-[0-9.]+)\] after [a-z]+$/#
        let memoryLines = lines.filter { $0.hasPrefix("memory") }
        #expect(memoryLines.count == 6)
        for line in memoryLines { #expect(line.wholeMatch(of: memory) != nil, "\(line)") }
        if engine != "null" {
            let afterFill = try #require(memoryLines.first)
            let perRecord = try #require(afterFill.wholeMatch(of: #/memory       : allocated ([0-9.]+) B/record.*/#)).1
            #expect(Double(perRecord)! >= 116, "an engine cannot hold a 116-byte record in fewer bytes: \(afterFill)")
        }
        let found = engine == "null" ? "(0 of 3000 found)" : "(3000 of 3000 found)"
        #expect(lines.contains { $0.hasPrefix("readrandom") && $0.hasSuffix(found) })
        if engine == "hash" {
            #expect(lines.contains { $0.hasPrefix("readseq") && $0.contains("skipped") })
        }
        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: jsonPath))) as? [String: Any])
        #expect(report["engine"] as? String == engine)
        let phases = try #require(report["phases"] as? [[String: Any]])
        #expect(phases.count == 6)
        #expect((phases.first?["memory"] as? [String: Any])?["allocatedPerRecord"] is Double)
    }

    @Test("bad arguments are reported with what was expected, and exit non-zero")
    func badArguments() throws {
        let cases: [([String], String)] = [
            (["bench", "--engine", "nosuch"], "unknown engine 'nosuch'; available engines: hash, skiplist"),
            (["bench", "--engine", "hash", "--option", "foo=1"], "unknown option 'foo'"),
            (["bench", "--engine", "hash", "--option", "shards=lots"], "option 'shards' has value 'lots', expected an integer"),
            (["bench", "--benchmarks", "fillseq,readall"], "unknown benchmark 'readall'"),
            (["bench", "--num", "100000", "--key-size", "3"], "--key-size 3: expected at least 5 bytes"),
        ]
        for (arguments, message) in cases {
            let run = try KVLabProcess.run(arguments)
            #expect(run.status != 0, "\(arguments)")
            #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }
}
