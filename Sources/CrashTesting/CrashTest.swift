// `kvlab crash-test`, as a library: start a writer process, SIGKILL it at a random moment, reopen, check against the oracle; repeat.

import Foundation
import KVCore
import KVEngines
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a crash soak runs, in the manner of RocksDB's db_crashtest.py (blackbox mode).
public struct CrashTestConfiguration: Sendable {
    /// Keys the writer chooses from: small, so puts overwrite and deletes hit live keys.
    public static let defaultKeyCount = 2000

    /// A persistent engine (`lsm`, `btree`).
    public var engine: String
    /// The policy of every cycle; nil picks one per cycle (always, periodic at 1/100/1000 ms,
    /// or buffered), as db_crashtest randomizes options per run.
    public var durability: DurabilityPolicy?
    /// Stop starting cycles after this many seconds.
    public var durationSeconds: Double
    /// Stop after this many cycles (0: only the duration limits).
    public var maxCycles: Int
    /// Seed of the operation stream, the kill moments and the per-cycle policies.
    public var seed: UInt64
    /// The database directory; nil makes a temporary one (removed after a run without failure).
    public var directory: String?
    /// The `kvlab` executable that runs `crash-writer`.
    public var executable: String
    /// Further engine options (`name=value`); nil uses small tables so the LSM flushes and
    /// compacts while being killed (`memtable-size=64K`).
    public var engineOptions: [String: String]?
    public var keyCount: Int
    /// When the writer is killed, in milliseconds after it was started (uniform), or after its
    /// first acknowledgement when `killAfterFirstAcknowledgement` is set.
    public var killDelayMilliseconds: ClosedRange<Int>
    /// Start the kill delay at the writer's first acknowledgement rather than at its start. Off
    /// by default, so kills also land while the engine opens and recovers; on where every cycle
    /// must exercise writes even when a loaded machine starts the writer slowly.
    public var killAfterFirstAcknowledgement = false

    public init(engine: String, durability: DurabilityPolicy? = nil, durationSeconds: Double, maxCycles: Int = 0, seed: UInt64,
                directory: String? = nil, executable: String, engineOptions: [String: String]? = nil,
                keyCount: Int = CrashTestConfiguration.defaultKeyCount, killDelayMilliseconds: ClosedRange<Int> = 20...400) {
        self.engine = engine
        self.durability = durability
        self.durationSeconds = durationSeconds
        self.maxCycles = maxCycles
        self.seed = seed
        self.directory = directory
        self.executable = executable
        self.engineOptions = engineOptions
        self.keyCount = keyCount
        self.killDelayMilliseconds = killDelayMilliseconds
    }

    /// The options every cycle opens the engine with, before the policy.
    var baseOptions: [String: String] {
        engineOptions ?? (engine == "lsm" ? ["memtable-size": "64K"] : [:])
    }
}

/// Progress after each cycle; the CLI prints some of them as status lines.
public struct CrashTestProgress: Sendable {
    public var elapsedSeconds: Double
    public var cycles: Int
    /// Operations acknowledged by writers, in all cycles.
    public var operations: Int
    /// Of those, synced ones.
    public var syncedOperations: Int
    /// The cycle just finished: its policy, acknowledged operations, and milliseconds to reopen and check.
    public var lastPolicy: DurabilityPolicy
    public var lastOperations: Int
    public var lastRecoveryMilliseconds: Double
    /// Cycles whose recovery showed fewer operations than were acknowledged (buffered only).
    public var cyclesWithLostUnsyncedWrites: Int
}

/// A cycle whose recovered state no legal state explains, or whose writer or reopen failed.
public struct CrashTestFailure: Error, Sendable, Codable, CustomStringConvertible {
    public var cycle: Int
    public var seed: UInt64
    public var durability: String
    public var firstOperation: Int
    public var message: String
    /// The database, kept for inspection.
    public var directory: String
    /// The command that replays the run (same seed: same operations, policies and kill delays;
    /// where the writer is when it is killed still depends on timing).
    public var replay: String

    public var description: String {
        "cycle \(cycle) (\(durability), operations from \(firstOperation)): \(message); database kept in \(directory); replay: \(replay)"
    }
}

/// The result of a run, also written as JSON (`--json`).
public struct CrashTestSummary: Sendable, Codable {
    public var engine: String
    public var seed: UInt64
    public var durability: String
    public var cycles: Int
    public var operations: Int
    public var syncedOperations: Int
    /// Cycles per policy name.
    public var cyclesByPolicy: [String: Int]
    /// Buffered cycles whose recovery lost acknowledged unsynced operations (legal there).
    public var cyclesWithLostUnsyncedWrites: Int
    public var elapsedSeconds: Double
    public var failure: CrashTestFailure?
    public var passed: Bool { failure == nil }
}

/// Runs the soak: start `kvlab crash-writer` on the directory, kill it with SIGKILL after a
/// random delay, reopen the engine in this process, read everything back and check it against
/// the oracle (`CrashOracle`), keep the recovered state as the next cycle's start; until the
/// duration or cycle limit, or the first failure.
public final class CrashTest {
    /// Numbers the runs of this process, so concurrent runs with one seed (a replayed seed
    /// across parametrized tests) never share a directory or the writer's output files.
    static let runCounter = Atomic<Int>(0)
    public let configuration: CrashTestConfiguration
    let runNumber: Int
    let clock: any MonotonicClock

    public init(configuration: CrashTestConfiguration, clock: any MonotonicClock = SystemMonotonicClock()) {
        self.configuration = configuration
        self.clock = clock
        runNumber = Self.runCounter.add(1, ordering: .relaxed).newValue
    }

    /// The command line that replays this run.
    public var replayCommand: String {
        let c = configuration
        var words = ["kvlab", "crash-test", "--engine", c.engine, "--seed", String(c.seed), "--duration", "\(Int(c.durationSeconds.rounded(.up)))s"]
        if let d = c.durability { words += ["--durability", d.name] + (d.name == "periodic" ? ["--sync-interval", "\(Self.interval(d))"] : []) }
        if c.maxCycles > 0 { words += ["--cycles", String(c.maxCycles)] }
        for (k, v) in (c.engineOptions ?? [:]).sorted(by: { $0.key < $1.key }) { words += ["--option", "\(k)=\(v)"] }
        return words.joined(separator: " ")
    }

    static func interval(_ policy: DurabilityPolicy) -> Int {
        if case .periodic(let ms) = policy { return ms }
        return 0
    }

    /// Runs cycles until a limit or the first failure.
    /// - Parameter progress: called after every cycle (on the calling thread).
    public func run(progress: (CrashTestProgress) -> Void = { _ in }) -> CrashTestSummary {
        let c = configuration
        let started = clock.nanoseconds()
        func elapsed() -> Double { Double(clock.nanoseconds() - started) / 1e9 }
        var rng = SeededRandom(seed: c.seed ^ 0x5EED_C0DE)
        let ownsDirectory = c.directory == nil
        let directory = c.directory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("kvlab-crash-\(c.engine)-\(getpid())-\(runNumber)-\(c.seed)").path
        if ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
        var summary = CrashTestSummary(engine: c.engine, seed: c.seed, durability: c.durability?.description ?? "random per cycle",
                                       cycles: 0, operations: 0, syncedOperations: 0, cyclesByPolicy: [:],
                                       cyclesWithLostUnsyncedWrites: 0, elapsedSeconds: 0, failure: nil)
        var expected = ExpectedState()
        var next = 0
        var cycle = 0
        while (c.maxCycles == 0 || cycle < c.maxCycles) && (cycle == 0 || elapsed() < c.durationSeconds) {
            let policy = c.durability ?? Self.randomPolicy(&rng)
            let delay = c.killDelayMilliseconds.lowerBound + Int(rng.next(below: UInt64(c.killDelayMilliseconds.count)))
            var options = c.baseOptions
            options["directory"] = directory
            options["durability"] = policy.name
            if case .periodic(let ms) = policy { options["sync-interval"] = String(ms) }
            let outcome = runCycle(cycle: cycle, policy: policy, options: options, start: next, delayMilliseconds: delay,
                                   expected: expected, directory: directory)
            switch outcome {
            case .failure(let message):
                summary.failure = CrashTestFailure(cycle: cycle, seed: c.seed, durability: policy.description, firstOperation: next,
                                                   message: message, directory: directory, replay: replayCommand)
            case .success(let result):
                summary.cycles += 1
                summary.operations += result.acknowledged
                summary.syncedOperations += result.synced
                summary.cyclesByPolicy[policy.name, default: 0] += 1
                if result.applied < result.acknowledged { summary.cyclesWithLostUnsyncedWrites += 1 }
                expected = result.state
                next = result.nextOperation
                progress(CrashTestProgress(elapsedSeconds: elapsed(), cycles: summary.cycles, operations: summary.operations,
                                           syncedOperations: summary.syncedOperations, lastPolicy: policy,
                                           lastOperations: result.acknowledged, lastRecoveryMilliseconds: result.recoveryMilliseconds,
                                           cyclesWithLostUnsyncedWrites: summary.cyclesWithLostUnsyncedWrites))
            }
            if summary.failure != nil { break }
            cycle += 1
        }
        summary.elapsedSeconds = elapsed()
        if summary.failure == nil && ownsDirectory { try? FileManager.default.removeItem(atPath: directory) }
        return summary
    }

    static func randomPolicy(_ rng: inout SeededRandom) -> DurabilityPolicy {
        switch rng.next(below: 5) {
        case 0: .always
        case 1: .periodic(intervalMilliseconds: 1)
        case 2: .periodic(intervalMilliseconds: 100)
        case 3: .periodic(intervalMilliseconds: 1000)
        default: .buffered
        }
    }

    struct CycleResult {
        var acknowledged: Int
        var synced: Int
        var applied: Int
        var state: ExpectedState
        var nextOperation: Int
        var recoveryMilliseconds: Double
    }

    enum CycleOutcome {
        case success(CycleResult)
        case failure(String)
    }

    private func runCycle(cycle: Int, policy: DurabilityPolicy, options: [String: String], start: Int, delayMilliseconds: Int,
                          expected: ExpectedState, directory: String) -> CycleOutcome {
        let c = configuration
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-crash-io-\(getpid())-\(runNumber)-\(c.seed)-\(cycle)")
        let ackPath = scratch.path + ".acks", errorPath = scratch.path + ".stderr"
        defer { try? FileManager.default.removeItem(atPath: ackPath); try? FileManager.default.removeItem(atPath: errorPath) }
        guard FileManager.default.createFile(atPath: ackPath, contents: nil), FileManager.default.createFile(atPath: errorPath, contents: nil),
              let ackHandle = FileHandle(forWritingAtPath: ackPath), let errorHandle = FileHandle(forWritingAtPath: errorPath) else {
            return .failure("cannot create the writer's output files \(ackPath), \(errorPath)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: c.executable)
        var arguments = ["crash-writer", "--engine", c.engine, "--seed", String(c.seed), "--start", String(start), "--keys", String(c.keyCount)]
        for (k, v) in options.sorted(by: { $0.key < $1.key }) { arguments += ["--option", "\(k)=\(v)"] }
        process.arguments = arguments
        // Acknowledgements go straight to a file: nothing is buffered in a pipe at the kill.
        process.standardOutput = ackHandle
        process.standardError = errorHandle
        do { try process.run() } catch {
            return .failure("cannot start \(c.executable): \(error)")
        }
        try? ackHandle.close()
        try? errorHandle.close()
        if c.killAfterFirstAcknowledgement {
            // Bounded: a writer that never acknowledges is killed after 60 s like any other.
            let deadline = clock.nanoseconds() + 60_000_000_000
            while process.isRunning && clock.nanoseconds() < deadline
                    && ((try? FileManager.default.attributesOfItem(atPath: ackPath)[.size] as? Int) ?? 0) == 0 {
                usleep(5_000)
            }
        }
        usleep(useconds_t(delayMilliseconds * 1000))
        let exitedEarly = !process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        if exitedEarly || process.terminationReason != .uncaughtSignal {
            let stderr = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
            return .failure("the writer exited on its own (status \(process.terminationStatus)) before the kill: \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        // The acknowledged operations: one number per line, consecutive from `start`.
        let text = (try? String(contentsOfFile: ackPath, encoding: .utf8)) ?? ""
        var acknowledged = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let n = Int(line) else { continue }
            guard n == start + acknowledged else {
                return .failure("writer acknowledgements out of order: \(n) after \(start + acknowledged - 1)")
            }
            acknowledged += 1
        }
        let operations = (0...acknowledged).map { CrashOperation.make(number: start + $0, seed: c.seed, keyCount: c.keyCount) }
        let synced = operations.prefix(acknowledged).filter(\.synced).count

        let recoveryStarted = clock.nanoseconds()
        let recovered: RecoveredState
        do {
            let engine = try StandardEngines.registry.open(c.engine, options: EngineOptions(options))
            do {
                try engine.checkInvariants()
                recovered = try RecoveredState.read(from: engine)
                try engine.close()
            } catch {
                try? engine.close()
                throw error
            }
        } catch {
            return .failure("reopening after the kill (\(acknowledged) operations acknowledged): \(error)")
        }
        let recoveryMilliseconds = Double(clock.nanoseconds() - recoveryStarted) / 1e6
        let legal = CrashOracle.legalPrefixes(policy: policy, operations: operations, acknowledged: acknowledged)
        switch CrashOracle.check(start: expected, operations: operations, legal: legal, recovered: recovered) {
        case .illegal(let message):
            return .failure("\(acknowledged) operations acknowledged (\(synced) synced): \(message)")
        case .legal(let applied, let state):
            return .success(CycleResult(acknowledged: acknowledged, synced: synced, applied: applied, state: state,
                                        nextOperation: start + acknowledged + 1, recoveryMilliseconds: recoveryMilliseconds))
        }
    }
}
