// `kvlab serve --disk-faults`: a failed fsync under --appendfsync always becomes error replies, the
// engine stays failed, and after a restart every write that got OK is there.

import Foundation
import KVLabTestSupport
import Testing

@Suite("kvlab serve --disk-faults", .serialized)
struct ServeDiskFaultTests {
    /// One redis-cli command against `port`; its stdout.
    static func cli(_ tool: String, _ port: Int, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["-p", String(port)] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("with --appendfsync always a failed fsync turns writes into IOERR replies until restart, and every OK write survives the restart")
    func fsyncErrorKeepsAcknowledgedWrites() throws {
        let tool = try redisTool("redis-cli")
        let db = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-diskfault-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: db) }
        var server = try ServeProcess(["--engine", "lsm", "--db", db, "--disk-faults", "--appendfsync", "always", "--threads", "2"])
        var acknowledged: [Int] = []
        for n in 0..<20 where try Self.cli(tool, server.port, ["SET", "k\(n)", "v\(n)"]) == "OK" { acknowledged.append(n) }
        #expect(acknowledged.count == 20)
        #expect(try Self.cli(tool, server.port, ["DEBUG", "DISKFAULT", "fsync-error"]) == "OK")
        #expect(try Self.cli(tool, server.port, ["INFO", "persistence"]).contains("kvlab_disk_fault:fsync-error"))
        let failed = try Self.cli(tool, server.port, ["SET", "k20", "v20"])
        #expect(failed.hasPrefix("IOERR"), "a write whose fsync failed was answered \(failed)")
        if failed == "OK" { acknowledged.append(20) }
        #expect(try Self.cli(tool, server.port, ["DEBUG", "DISKFAULT", "none"]) == "OK")
        // A failed fsync is final: healing the disk does not bring the engine back.
        let after = try Self.cli(tool, server.port, ["SET", "k21", "v21"])
        #expect(after != "OK", "a write after a failed fsync was acknowledged: \(after)")
        if after == "OK" { acknowledged.append(21) }
        #expect(try Self.cli(tool, server.port, ["INFO", "persistence"]).contains("aof_last_write_status:err"))
        _ = server.stop()

        server = try ServeProcess(["--engine", "lsm", "--db", db, "--appendfsync", "always", "--threads", "2"])
        defer { _ = server.stop() }
        for n in acknowledged {
            #expect(try Self.cli(tool, server.port, ["GET", "k\(n)"]) == "v\(n)", "acknowledged write k\(n) lost")
        }
        #expect(try Self.cli(tool, server.port, ["SET", "k22", "v22"]) == "OK")
        #expect(try Self.cli(tool, server.port, ["DEBUG", "DISKFAULT", "none"]).contains("--disk-faults"))
    }

    @Test("--disk-faults is refused for an in-memory engine and for lsm without --db, naming what it needs")
    func refusedWithoutFiles() throws {
        for arguments in [["--engine", "hash"], ["--engine", "lsm"]] {
            let run = try KVLabProcess.run(["serve", "--port", "0", "--disk-faults"] + arguments)
            #expect(run.status == 2)
            #expect(run.stderr.contains("--disk-faults needs a persistent engine with files"), "\(run.stderr)")
        }
    }
}
