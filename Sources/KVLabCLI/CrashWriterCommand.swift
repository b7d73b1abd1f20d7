// `kvlab crash-writer`: a hidden child for SIGKILL crash tests; writes with sync: true and
// prints every acknowledged operation, one line each, until killed.

import ArgumentParser
@preconcurrency import Foundation
import KVCore
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Writes to any registered engine with `sync: true`, printing `put <n>` or `del <n>` after each
/// write returns (stdout line-buffered, so the parent sees a line as soon as it is
/// acknowledged). Operation `n` puts key `crash-<n>` (zero-padded to 10 digits) with
/// `CrashWriterCommand.value(n)`, except that every fifth operation deletes the key of an
/// earlier put, `del <n> <m>` naming the deleted operation `m`. A parent kills it at a random
/// moment, reopens the directory, and checks every acknowledged put is present (unless deleted)
/// and every acknowledged delete absent. Runs `--count` operations (default: until killed).
struct CrashWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer",
        abstract: "Write with sync: true and print each acknowledged operation (for crash tests).",
        shouldDisplay: false
    )

    @OptionGroup var selection: EngineSelection

    @Option(help: "First operation number (continue after an earlier round).")
    var start: Int = 0

    @Option(help: "Operations to run (0: until killed).")
    var count: Int = 0

    @Option(help: "Seed choosing which earlier keys are deleted.")
    var seed: UInt64 = 1

    /// The key of operation `n`.
    static func key(_ n: Int) -> [UInt8] {
        let digits = String(n)
        return Array(("crash-" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits).utf8)
    }

    /// The value of operation `n`: mostly short, every seventh larger than a 4 KiB page.
    static func value(_ n: Int) -> [UInt8] {
        let length = n % 7 == 3 ? 5_000 + n % 1000 : 20 + n % 80
        return (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) }
    }

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        let engine: any KeyValueEngine
        do { engine = try selection.open() } catch { throw CLIError(message: "kvlab crash-writer: \(error)") }
        var rng = SeededRandom(seed: seed &+ UInt64(start))
        var n = start
        while count == 0 || n < start + count {
            do {
                if n % 5 == 4 && n > start {
                    let victim = start + Int(rng.next(below: UInt64(n - start)))
                    try engine.delete(Self.key(victim), options: .synced)
                    print("del \(n) \(victim)")
                } else {
                    try engine.put(Self.key(n), Self.value(n), options: .synced)
                    print("put \(n)")
                }
            } catch {
                throw CLIError(message: "kvlab crash-writer: operation \(n): \(error)")
            }
            n += 1
        }
        try? engine.close()
    }
}
