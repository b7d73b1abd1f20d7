// `kvlab crash-test`: the crash soak (RocksDB db_crashtest style); parses, runs `CrashTest`, prints status lines and the summary.

import ArgumentParser
import CrashTesting
@preconcurrency import Foundation
import KVCore
import KVEngines
import Measurement

struct CrashTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-test",
        abstract: "Kill a writing process again and again and check that every recovery keeps what it must (a crash soak).",
        discussion: """
        Each cycle starts `kvlab crash-writer` on the database (random puts, deletes and atomic \
        batches over a small key space, 5% synced, all from --seed), SIGKILLs it after a random \
        delay, reopens the engine, reads everything back and checks it against an expected-values \
        oracle: under always and periodic every acknowledged operation is there (a process kill is \
        not a power loss); under buffered the state is that after some prefix of the operations \
        that keeps every synced one; no deleted key comes back, no value is damaged. Without \
        --durability each cycle picks a policy at random. A status line every --status-interval \
        seconds; the summary names the first failure, its seed and the command that replays it. \
        Exit status 1 on a failure.
          kvlab crash-test --engine lsm --duration 5m
          kvlab crash-test --engine btree --duration 60s --durability periodic --seed 7 --json summary.json
        """
    )

    @Option(help: ArgumentHelp("Persistent engine: lsm or btree.", valueName: "name"))
    var engine: String

    @Option(help: ArgumentHelp("How long to run: seconds, or with a unit (90s, 5m, 1h).", valueName: "D"))
    var duration: String = "60s"

    @Option(help: ArgumentHelp("Policy of every cycle: always, periodic or buffered (default: random per cycle).", valueName: "policy"))
    var durability: String?

    @Option(name: .customLong("sync-interval"), help: ArgumentHelp("Milliseconds between fsyncs under --durability periodic.", valueName: "ms"))
    var syncInterval: Int = 1000

    @Option(help: "Seed of the operations, kill delays and policies (default: random, printed).")
    var seed: UInt64?

    @Option(help: "Stop after this many cycles (0: the duration decides).")
    var cycles: Int = 0

    @Option(help: ArgumentHelp("Database directory (default: a temporary one, removed unless a cycle fails).", valueName: "dir"))
    var db: String?

    @Option(name: .customLong("option"), help: ArgumentHelp("An engine option, repeatable (default for lsm: memtable-size=64K).", valueName: "name=value"))
    var options: [String] = []

    @Option(name: .customLong("kill-delay"), help: ArgumentHelp("Kill the writer this many milliseconds after starting it, uniform in MIN-MAX.", valueName: "MIN-MAX"))
    var killDelay: String = "20-400"

    @Option(name: .customLong("status-interval"), help: "Seconds between status lines.")
    var statusInterval: Int = 10

    @Option(help: ArgumentHelp("Also write the summary as JSON to this file (- for stdout).", valueName: "path"))
    var json: String?

    func validate() throws {
        guard let descriptor = StandardEngines.registry.descriptor(named: engine) else {
            throw ValidationError(EngineError.unknownEngine(name: engine, available: StandardEngines.registry.names).description)
        }
        guard descriptor.capabilities.contains(.persistent) else {
            throw ValidationError("--engine \(engine): keeps its data in memory; a crash test needs a persistent engine (lsm, btree)")
        }
        _ = try durationSeconds()
        _ = try policy()
        _ = try killDelayRange()
        guard cycles >= 0 else { throw ValidationError("--cycles \(cycles): expected 0 or more") }
        guard statusInterval >= 1 else { throw ValidationError("--status-interval \(statusInterval): expected at least 1 second") }
        _ = try engineOptions()
    }

    func durationSeconds() throws -> Double {
        let text = duration.lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value > 0 { return value * scale }
            break
        }
        if let value = Double(text), value > 0 { return value }
        throw ValidationError("--duration \(duration): expected a positive number of seconds, or with a unit: 90s, 5m, 1h")
    }

    func policy() throws -> DurabilityPolicy? {
        guard let durability else { return nil }
        var options = EngineOptions(["durability": durability, "sync-interval": String(syncInterval)])
        options.values["sync-interval"] = String(syncInterval)
        do { return try options.durabilityPolicy(engine: engine) } catch {
            throw ValidationError("--durability \(durability) --sync-interval \(syncInterval): \(error)")
        }
    }

    func killDelayRange() throws -> ClosedRange<Int> {
        let parts = killDelay.split(separator: "-").map { Int($0) }
        guard parts.count == 2, let low = parts[0], let high = parts[1], low >= 0, high >= low else {
            throw ValidationError("--kill-delay \(killDelay): expected MIN-MAX milliseconds, e.g. 20-400")
        }
        return low...high
    }

    func engineOptions() throws -> [String: String]? {
        guard !options.isEmpty else { return nil }
        let parsed: EngineOptions
        do { parsed = try EngineOptions(parsing: options, engine: engine) } catch { throw ValidationError(error.description) }
        for name in ["directory", "durability", "sync-interval", "sync"] where parsed[name] != nil {
            throw ValidationError("--option \(name)=: set by crash-test itself (use --db, --durability, --sync-interval)")
        }
        return parsed.values
    }

    func run() throws {
        let seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let configuration = CrashTestConfiguration(
            engine: engine, durability: try policy(), durationSeconds: try durationSeconds(), maxCycles: cycles, seed: seed,
            directory: db, executable: executable, engineOptions: try engineOptions(), killDelayMilliseconds: try killDelayRange())
        let test = CrashTest(configuration: configuration)
        Console.output("kvlab crash-test: engine \(engine), durability \(configuration.durability?.description ?? "random per cycle"), seed \(seed), duration \(duration)")
        var lastStatus = 0.0
        var lastOperations = 0
        let summary = test.run { p in
            guard p.elapsedSeconds - lastStatus >= Double(statusInterval) else { return }
            let interval = p.elapsedSeconds - lastStatus
            let rate = interval > 0 ? Double(p.operations - lastOperations) / interval : 0
            Console.output(StatusLine.timestamp(Date(), timeZone: .current) + " \(Int(p.elapsedSeconds)) sec: \(p.cycles) cycles; "
                           + "\(p.operations) operations; " + String(format: "%.2f", rate) + " current ops/sec; "
                           + "[KILL: Cycles=\(p.cycles), SyncedOps=\(p.syncedOperations), LastOps=\(p.lastOperations), LastPolicy=\(p.lastPolicy.name)] "
                           + "[RECOVERY: LastMs=" + String(format: "%.1f", p.lastRecoveryMilliseconds)
                           + ", LostUnsyncedCycles=\(p.cyclesWithLostUnsyncedWrites)] ")
            lastStatus = p.elapsedSeconds
            lastOperations = p.operations
        }
        Console.output("[SUMMARY], Engine, \(summary.engine)")
        Console.output("[SUMMARY], Durability, \(summary.durability)")
        Console.output("[SUMMARY], Seed, \(summary.seed)")
        Console.output("[SUMMARY], Cycles, \(summary.cycles)")
        for (name, count) in summary.cyclesByPolicy.sorted(by: { $0.key < $1.key }) { Console.output("[SUMMARY], Cycles(\(name)), \(count)") }
        Console.output("[SUMMARY], Operations, \(summary.operations)")
        Console.output("[SUMMARY], SyncedOperations, \(summary.syncedOperations)")
        Console.output("[SUMMARY], BufferedCyclesThatLostUnsyncedWrites, \(summary.cyclesWithLostUnsyncedWrites)")
        Console.output("[SUMMARY], RunTime(s), " + String(format: "%.1f", summary.elapsedSeconds))
        Console.output("[SUMMARY], Result, " + (summary.failure.map { "FAILED: \($0)" } ?? "passed (no failure)"))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(summary)
            if json == "-" { Console.output(String(decoding: data, as: UTF8.self)) } else {
                do { try data.write(to: URL(fileURLWithPath: json)) } catch {
                    throw CLIError(message: "kvlab crash-test: cannot write --json \(json): \(error)")
                }
            }
        }
        if summary.failure != nil { throw CLIError(message: "kvlab crash-test: a cycle failed (see the summary)", code: 1) }
    }
}
