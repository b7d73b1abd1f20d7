// Real crashes, for every persistent engine: a `kvlab crash-writer` child writing with
// sync: true is SIGKILLed at random moments; every write it acknowledged must be there when
// the parent reopens the directory, and no acknowledged delete undone.

import Foundation
import KVCore
import KVEngines
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A persistent engine and the options its crash run uses (small memtables make the LSM flush
/// and compact while it is being killed).
struct PersistentEngine: Sendable, CustomTestStringConvertible {
    var name: String
    var options: [String: String]
    var testDescription: String { name }

    static let all = [
        PersistentEngine(name: "lsm", options: ["memtable-size": "64K"]),
        PersistentEngine(name: "btree", options: [:]),
    ]
}

@Suite("Crash safety: SIGKILL of a writing process")
struct ProcessCrashTests {
    static var kvlabExecutable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("kvlab")
    }
    /// The key and value of crash-writer operation `n` (as `CrashWriterCommand` makes them).
    static func key(_ n: Int) -> [UInt8] {
        let digits = String(n)
        return Array(("crash-" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits).utf8)
    }
    static func value(_ n: Int) -> [UInt8] {
        let length = n % 7 == 3 ? 5_000 + n % 1000 : 20 + n % 80
        return (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) }
    }

    /// The victim of delete operation `n` in a round that started at `start` with `seed`.
    static func victim(of n: Int, start: Int, seed: UInt64) -> Int {
        var rng = SeededRandom(seed: seed &+ UInt64(start))
        var result = -1
        for op in start...n where op % 5 == 4 && op > start {
            result = start + Int(rng.next(below: UInt64(op - start)))
        }
        return result
    }

    @Test("every acknowledged synced write survives SIGKILL at random moments, over several rounds",
          arguments: PersistentEngine.all)
    func acknowledgedWritesSurviveKill(subject: PersistentEngine) throws {
        let seed: UInt64 = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("\(subject.name): seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-kill-\(subject.name)-\(getpid())-\(seed)").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let optionArguments = subject.options.sorted { $0.key < $1.key }.flatMap { ["--option", "\($0.key)=\($0.value)"] }
        // Known state of each operation's key: true present, false absent; uncertain keys are
        // adopted from what the reopened engine holds.
        var state: [Int: Bool] = [:]
        var start = 0
        for round in 0..<4 {
            let process = Process()
            process.executableURL = Self.kvlabExecutable
            process.arguments = ["crash-writer", "--engine", subject.name, "--db", dir, "--start", String(start), "--seed", String(seed)] + optionArguments
            let pipe = Pipe()
            process.standardOutput = pipe
            let buffer = LockedBuffer()
            pipe.fileHandleForReading.readabilityHandler = { handle in buffer.append(handle.availableData) }
            try process.run()
            // Let it acknowledge something, then kill it at a random moment.
            let deadline = Date().addingTimeInterval(20)
            while buffer.lineCount < 1 && Date() < deadline && process.isRunning { usleep(2_000) }
            usleep(useconds_t(50_000 + rng.next(below: 400_000)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
            buffer.append(pipe.fileHandleForReading.readDataToEndOfFile())
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the writer exited on its own: status \(process.terminationStatus)")
            let lines = buffer.completeLines
            var last = start - 1
            for line in lines {
                let fields = line.split(separator: " ")
                guard fields.count >= 2, let n = Int(fields[1]) else { continue }
                if fields[0] == "put" { state[n] = true }
                if fields[0] == "del", fields.count == 3, let v = Int(fields[2]) { state[v] = false }
                last = n
            }
            print("round \(round): \(lines.count) acknowledged operations from \(start)")
            // The operation in flight at the kill may or may not have happened.
            let inFlight = last + 1
            var uncertain: Set<Int> = []
            if inFlight % 5 == 4 && inFlight > start {
                let v = Self.victim(of: inFlight, start: start, seed: seed)
                if state[v] == true { uncertain.insert(v) }
            } else {
                uncertain.insert(inFlight)
            }
            var options = subject.options
            options["directory"] = dir
            let engine = try StandardEngines.registry.open(subject.name, options: EngineOptions(options))
            try engine.checkInvariants()
            for (n, present) in state.sorted(by: { $0.key < $1.key }) where !uncertain.contains(n) {
                let got = try engine.get(Self.key(n))
                if present {
                    #expect(got == Self.value(n), "round \(round): acknowledged put \(n) lost or wrong (\(subject.name), seed \(seed))")
                } else {
                    #expect(got == nil, "round \(round): acknowledged delete of \(n) undone (\(subject.name), seed \(seed))")
                }
            }
            for n in uncertain {
                let got = try engine.get(Self.key(n))
                #expect(got == nil || got == Self.value(n), "round \(round): operation \(n) in flight left a wrong value")
                state[n] = got != nil
            }
            try engine.close()
            start = inFlight + 1
        }
    }
}

/// Bytes from a child's stdout, appended from the pipe's reader thread.
final class LockedBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }

    var lineCount: Int { lock.lock(); defer { lock.unlock() }; return data.filter { $0 == 10 }.count }

    /// Lines ended by a newline (a line cut by the kill is dropped).
    var completeLines: [String] {
        lock.lock(); defer { lock.unlock() }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines.removeLast()  // after the last newline: empty, or a partial line
        return lines
    }
}

@Suite("Persistent engines lock their directory")
struct DirectoryLockTests {
    @Test("a second engine on an open database is refused with a clear error; after close it opens",
          arguments: PersistentEngine.all)
    func secondOpenIsRefused(subject: PersistentEngine) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-lock-\(subject.name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let options = EngineOptions(["directory": dir])
        let first = try StandardEngines.registry.open(subject.name, options: options)
        try first.put([1], [2])
        do {
            let second = try StandardEngines.registry.open(subject.name, options: options)
            try? second.close()
            Issue.record("\(subject.name): a second engine opened the same directory")
        } catch {
            #expect("\(error)".contains("in use"), "\(error)")
            #expect("\(error)".contains("\(dir)/LOCK"), "\(error)")
        }
        try first.close()
        let again = try StandardEngines.registry.open(subject.name, options: options)
        #expect(try again.get([1]) == [2])
        try again.close()
    }
}
