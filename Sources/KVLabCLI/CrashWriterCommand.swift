// `kvlab crash-writer`: the hidden child of `kvlab crash-test` and the crash tests; runs the seeded operation stream and acknowledges each operation until killed.

import ArgumentParser
import CrashTesting
@preconcurrency import Foundation
import KVCore
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs `CrashWriterPlan` (random puts, deletes and batches, some synced, from `--seed`) on an
/// engine, writing each operation's number on its own line to stdout with one write(2) as soon
/// as the operation returned: the parent knows every acknowledged operation even after SIGKILL.
/// Runs `--count` operations (default: until killed).
struct CrashWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer",
        abstract: "Run the crash test's operation stream and print each acknowledged operation (for crash tests).",
        shouldDisplay: false
    )

    @OptionGroup var selection: EngineSelection

    @Option(help: "First operation number (continue after an earlier cycle).")
    var start: Int = 0

    @Option(help: "Operations to run (0: until killed).")
    var count: Int = 0

    @Option(help: "Seed of the operation stream.")
    var seed: UInt64 = 1

    @Option(help: "Size of the key space.")
    var keys: Int = CrashTestConfiguration.defaultKeyCount

    func validate() throws {
        guard start >= 0, count >= 0 else { throw ValidationError("--start and --count: expected numbers >= 0") }
        guard keys >= 1, keys <= 999_999 else { throw ValidationError("--keys \(keys): expected 1...999999") }
    }

    func run() throws {
        let engine: any KeyValueEngine
        do { engine = try selection.open() } catch { throw CLIError(message: "kvlab crash-writer: \(error)") }
        let plan = CrashWriterPlan(seed: seed, start: start, count: count, keyCount: keys)
        var line = [UInt8]()
        do {
            try plan.run(on: engine) { n in
                line.removeAll(keepingCapacity: true)
                line.append(contentsOf: String(n).utf8)
                line.append(10)
                // One unbuffered write per acknowledgement: nothing waits in stdio at the kill.
                _ = line.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            }
        } catch {
            throw CLIError(message: "kvlab crash-writer: \(error)")
        }
        try? engine.close()
    }
}
