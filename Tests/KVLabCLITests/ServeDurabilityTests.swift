// Issue 12's acceptance test with a real client: redis-py writes to `kvlab serve` in every
// --appendfsync mode, the server is SIGKILLed several times; no acknowledged write may be lost.

import Foundation
import KVCore
import Testing

/// redis-py as the client: `write` SETs unique keys one by one and prints each acknowledged
/// number (creating a marker file after the first); `check` reads the numbers back and prints
/// those whose key is missing or wrong.
private let redisPyScript = #"""
import sys, time
try:
    import redis
except ImportError as e:
    print("NO-REDIS-PY", e, flush=True); sys.exit(3)
mode, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from redis.retry import Retry
from redis.backoff import NoBackoff
# No retries: a write counts only if its own reply said OK.
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, retry_on_timeout=False, retry=Retry(NoBackoff(), 0))
if mode == "write":
    limit = time.time() + float(sys.argv[4])
    marker = sys.argv[5]
    n = 0
    try:
        while time.time() < limit:
            if r.set(f"{prefix}:{n}", f"value-{prefix}-{n}") is True:
                print(n, flush=True)
                if n == 0:
                    open(marker, "w").close()  # the test starts its kill timer now
            n += 1
    except Exception as e:
        print("STOPPED", type(e).__name__, flush=True)
else:
    missing = []
    for line in sys.stdin:
        if not line.strip():
            continue
        n = int(line)
        if r.get(f"{prefix}:{n}") != f"value-{prefix}-{n}".encode():
            missing.append(n)
    print("CHECKED", " ".join(map(str, missing[:20])), "MISSING", len(missing), flush=True)
"""#

struct DurabilityCase: Sendable, CustomTestStringConvertible {
    var engine: String
    var mode: String
    var testDescription: String { "\(engine) --appendfsync \(mode)" }
    static let all = ["lsm", "btree"].flatMap { e in ["always", "everysec", "no"].map { DurabilityCase(engine: e, mode: $0) } }
}

@Suite("kvlab serve --appendfsync: acknowledged writes survive SIGKILL (redis-py)")
struct ServeDurabilityTests {
    static func python(_ arguments: [String], input: String? = nil) throws -> (status: Int32, out: String) {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-redispy-\(getpid()).py")
        if !FileManager.default.fileExists(atPath: script.path) { try redisPyScript.write(to: script, atomically: true, encoding: .utf8) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path] + arguments
        let out = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try inPipe.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Fails (never skips) with a clear message when python3 or redis-py is missing.
    static func requireRedisPy() throws {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import redis"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        do { try probe.run() } catch {
            throw RedisPyMissing(detail: "cannot run python3 through /usr/bin/env: \(error)")
        }
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else {
            throw RedisPyMissing(detail: "`python3 -c 'import redis'` failed (status \(probe.terminationStatus)): install python3 and redis-py (pip install redis)")
        }
    }

    @Test("redis-py writes unique keys one by one, the server is SIGKILLed three times at random moments; every acknowledged key is there",
          arguments: DurabilityCase.all)
    func acknowledgedWritesSurviveKill(subject: DurabilityCase) throws {
        try Self.requireRedisPy()
        let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        print("\(subject.testDescription): seed \(seed) (replay with KVLAB_SEED=\(seed))")
        var rng = SeededRandom(seed: seed)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-serve-kill-\(subject.engine)-\(subject.mode)-\(getpid())-\(seed)").path
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let serveArguments = ["--engine", subject.engine, "--db", dir, "--appendfsync", subject.mode, "--threads", "2"]
        var acknowledged: [(prefix: String, numbers: [Int])] = []
        for round in 0..<3 {
            let server = try ServeProcess(serveArguments)
            let prefix = "r\(round)"
            // The writer runs at most 15 s; the kill comes 0.2–0.6 s after its first acknowledged SET
            // (python's start-up time varies a lot on a loaded machine), or after 15 s at the latest.
            let killAfter = 200_000 + Int(rng.next(below: 400_000))
            let pid = server.process.processIdentifier
            let marker = dir + "-first-ack-\(round)"
            try? FileManager.default.removeItem(atPath: marker)
            defer { try? FileManager.default.removeItem(atPath: marker) }
            let killer = Thread {
                for _ in 0..<1500 where !FileManager.default.fileExists(atPath: marker) { usleep(10_000) }
                usleep(useconds_t(killAfter))
                kill(pid, SIGKILL)
            }
            killer.start()
            let result = try Self.python(["write", String(server.port), prefix, "15", marker])
            server.process.waitUntilExit()
            #expect(server.process.terminationReason == .uncaughtSignal, "round \(round): the server was not killed")
            let numbers = result.out.split(separator: "\n").compactMap { Int($0) }
            #expect(result.out.contains("STOPPED"), "round \(round): the writer did not stop at the kill: \(result.out.suffix(300))")
            print("\(subject.testDescription) round \(round): \(numbers.count) acknowledged SETs, then SIGKILL")
            acknowledged.append((prefix, numbers))
        }
        #expect(acknowledged.allSatisfy { !$0.numbers.isEmpty }, "a round without any acknowledged SET tests nothing")
        // Restart on the same directory and read every acknowledged key back with redis-py.
        let server = try ServeProcess(serveArguments)
        defer { _ = server.stop() }
        for (prefix, numbers) in acknowledged where !numbers.isEmpty {
            let check = try Self.python(["check", String(server.port), prefix], input: numbers.map(String.init).joined(separator: "\n") + "\n")
            #expect(check.out.contains("MISSING 0\n"),
                    "\(subject.testDescription), \(prefix): acknowledged writes lost after SIGKILL (\(numbers.count) acknowledged): \(check.out) (seed \(seed))")
        }
    }

    @Test("--appendfsync is refused when it contradicts --option durability=, and for an in-memory engine")
    func contradictionsAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-serve-contra-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let contradiction = try KVLabProcess.run(["serve", "--port", "0", "--engine", "lsm", "--db", dir, "--appendfsync", "always", "--option", "durability=buffered"])
        #expect(contradiction.status == 2)
        #expect(contradiction.stderr.contains("--appendfsync always means --option durability=always"), "\(contradiction.stderr)")
        let inMemory = try KVLabProcess.run(["serve", "--port", "0", "--engine", "hash", "--appendfsync", "everysec"])
        #expect(inMemory.status == 2)
        #expect(inMemory.stderr.contains("keeps its data in memory"), "\(inMemory.stderr)")
        let unknown = try KVLabProcess.run(["serve", "--port", "0", "--engine", "lsm", "--db", dir, "--appendfsync", "sometimes"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("appendfsync"), "\(unknown.stderr)")
    }
}

struct RedisPyMissing: Error, CustomStringConvertible {
    var detail: String
    var description: String { "this test needs python3 with redis-py: \(detail)" }
}
