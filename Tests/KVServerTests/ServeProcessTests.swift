// `kvlab serve` as a separate process, where memory, sockets and the command line are real: a
// client that never reads, the output limit, password sources, protected mode; and raw bytes
// sent to kvlab and to a live redis-server, whose replies must match.

import Foundation
import KVClient
import KVLabTestSupport
@testable import KVServer
import RESP
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `kvlab serve` binary `swift test` built, as a child process on a free port.
final class KVLabServeProcess {
    let process = Process()
    let output = Pipe()
    let errors = Pipe()
    let host: String
    let port: Int

    static var executable: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("kvlab")
    }

    init(_ arguments: [String], host: String = "127.0.0.1", environment: [String: String] = [:]) throws {
        self.host = host
        process.executableURL = Self.executable
        process.arguments = ["serve", "--port", "0", "--bind", host, "--engine", "hash"] + arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: ServeEnvironment.passwordVariable)
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        while !text.contains("\n") && Date() < deadline && process.isRunning {
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        guard let range = text.range(of: #"listening on [^ ]+:(\d+)"#, options: .regularExpression),
              let port = Int(text[range].split(separator: ":").last ?? "") else {
            process.terminate()
            throw RedisProcessError.notReady("kvlab serve printed no port: \(text)")
        }
        self.port = port
    }

    var endpoint: RedisEndpoint { RedisEndpoint(host: host, port: port) }

    /// The resident set size from /proc/PID/statm (pages × page size).
    func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// The name `kvlab serve` reads the password from (kept in one place for the tests).
enum ServeEnvironment { static let passwordVariable = "KVLAB_REQUIREPASS" }

@Suite("kvlab serve as a process: slow readers, limits, passwords, protected mode", .serialized)
struct ServeProcessTransportTests {
    static let tenMB = 10 * 1024 * 1024
    static let getBig = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"

    func storeBigValue(_ server: KVLabServeProcess) throws {
        let c = try RESPConnection(endpoint: server.endpoint, timeoutSeconds: 30)
        defer { c.close() }
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: Self.tenMB)
        #expect(try c.call(arguments: [Array("SET".utf8), Array("big".utf8), value]) == .simpleString("OK"))
        #expect(try c.call(["STRLEN", "big"]) == .integer(Int64(Self.tenMB)))
    }

    @Test("a client pipelining 3,000 GETs of a 10 MB value and never reading leaves the server's RSS bounded; another client's PING answers")
    func slowReaderBounded() throws {
        let server = try KVLabServeProcess(["--threads", "1"])
        defer { server.stop() }
        try storeBigValue(server)
        // One full GET read back, so the baseline includes the buffers a normal GET uses.
        let reader = try RawSocket(host: "127.0.0.1", port: server.port)
        try reader.send(Self.getBig)
        let expected = "$\(Self.tenMB)\r\n".utf8.count + Self.tenMB + 2
        #expect(reader.receive(quiet: 10, limit: expected).bytes.count == expected)
        reader.close()
        usleep(300_000)
        let baseline = server.residentBytes()
        let slow = try RawSocket(host: "127.0.0.1", port: server.port)
        defer { slow.close() }
        try slow.send(String(repeating: Self.getBig, count: 3000))
        // Without backpressure this grows by 10 MB per GET (30 GB); stop well before that.
        let safety = baseline + 1 << 30
        var peak = baseline
        var pinged = false
        for i in 0..<60 {
            usleep(50_000)
            let rss = server.residentBytes()
            peak = max(peak, rss)
            if rss > safety {
                kill(server.process.processIdentifier, SIGKILL)
                Issue.record("server RSS passed \(rss >> 20) MB (baseline \(baseline >> 20) MB): output is not bounded")
                return
            }
            if i == 20 {
                // Same event loop (--threads 1): the stalled client must not block it.
                let other = try RESPConnection(endpoint: server.endpoint, timeoutSeconds: 10)
                #expect(try other.call(["PING"]) == .simpleString("PONG"))
                other.close()
                pinged = true
            }
        }
        #expect(pinged)
        let growth = peak - baseline
        print("slow reader: baseline RSS \(baseline >> 20) MB, peak \(peak >> 20) MB, growth \(growth >> 20) MB")
        #expect(growth < 150 << 20, "RSS grew by \(growth >> 20) MB for a client that never reads")
    }

    @Test("with --client-output-buffer-limit 'normal 0 1mb 1', a client that never reads is disconnected and INFO counts it")
    func softLimitDisconnects() throws {
        let server = try KVLabServeProcess(["--threads", "1", "--client-output-buffer-limit", "normal 0 1mb 1"])
        defer { server.stop() }
        try storeBigValue(server)
        let slow = try RawSocket(host: "127.0.0.1", port: server.port)
        defer { slow.close() }
        try slow.send(String(repeating: Self.getBig, count: 20))
        let admin = try RESPConnection(endpoint: server.endpoint, timeoutSeconds: 10)
        defer { admin.close() }
        var info = ""
        for _ in 0..<100 where !info.contains("client_output_buffer_limit_disconnections:1") {
            usleep(100_000)
            info = try admin.call(["INFO", "stats"]).text ?? ""
        }
        #expect(info.contains("client_output_buffer_limit_disconnections:1"), "\(info)")
        // What the kernel had buffered still arrives, then the connection ends.
        let rest = slow.receive(quiet: 5, limit: 256 << 20)
        #expect(rest.closed)
        #expect(rest.bytes.count < 20 * Self.tenMB)
        #expect(try admin.call(["CONFIG", "GET", "client-output-buffer-limit"]) == .array([.bulk("client-output-buffer-limit"), .bulk("normal 0 1048576 1")]))
    }

    @Test("the password comes from --requirepass-file or KVLAB_REQUIREPASS, never shown on the command line; both options at once are refused")
    func passwordSources() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-pw-\(UUID().uuidString)")
        try "from-a-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        for (arguments, environment, password) in [
            (["--requirepass-file", file.path], [String: String](), "from-a-file"),
            ([], [ServeEnvironment.passwordVariable: "from-the-environment"], "from-the-environment"),
        ] {
            let server = try KVLabServeProcess(arguments, environment: environment)
            defer { server.stop() }
            let c = try RESPConnection(endpoint: server.endpoint, timeoutSeconds: 10)
            #expect(try c.call(["PING"]) == .error("NOAUTH Authentication required."))
            #expect(try c.call(["AUTH", "wrong"]).isError)
            #expect(try c.call(["AUTH", password]) == .simpleString("OK"))
            #expect(try c.call(["PING"]) == .simpleString("PONG"))
            #expect(try c.call(["INFO", "stats"]).text?.contains("acl_access_denied_auth:1") == true)
            c.close()
            let commandLine = (try? String(contentsOfFile: "/proc/\(server.process.processIdentifier)/cmdline", encoding: .utf8)) ?? ""
            #expect(!commandLine.isEmpty && !commandLine.contains(password))
        }
        let both = Process()
        both.executableURL = KVLabServeProcess.executable
        both.arguments = ["serve", "--port", "0", "--requirepass", "x", "--requirepass-file", file.path]
        let err = Pipe()
        both.standardError = err
        both.standardOutput = FileHandle.nullDevice
        try both.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        both.waitUntilExit()
        #expect(both.terminationStatus != 0)
        #expect(message.contains("--requirepass-file"), "\(message)")
    }

    @Test("bound beyond loopback with no password, a client from a non-loopback address gets Redis's -DENIED text; --protected-mode no lets it in")
    func protectedModeOnASocket() throws {
        guard let address = nonLoopbackIPv4Address() else {
            Issue.record("this machine has no non-loopback IPv4 address, which the protected-mode test needs")
            return
        }
        let guarded = try KVLabServeProcess([], host: address)
        defer { guarded.stop() }
        let remote = try RawSocket(host: address, port: guarded.port)
        let reply = remote.receiveText(quiet: 5)
        remote.close()
        #expect(reply.text == "-" + RESPConnectionHandler.protectedModeDenied + "\r\n")
        #expect(reply.closed)
        let open = try KVLabServeProcess(["--protected-mode", "no"], host: address)
        defer { open.stop() }
        let client = try RawSocket(host: address, port: open.port)
        try client.send("PING\r\n")
        #expect(client.receiveText(quiet: 5).text.hasPrefix("+PONG\r\n"))
        client.close()
    }
}

@Suite("Raw bytes: kvlab serve and redis-server answer alike", .serialized)
struct RedisByteParityTests {
    @Test("invalid lengths and the limits before AUTH get the same bytes (and disconnect) from kvlab as from redis-server")
    func sameBytesAsRedis() throws {
        let redis = try RedisServerProcess()
        defer { redis.stop() }
        // Set after start: the helper's readiness check is a PING without AUTH.
        let admin = try RESPConnection(endpoint: redis.endpoint, timeoutSeconds: 10)
        #expect(try admin.call(["CONFIG", "SET", "requirepass", "pw"]) == .simpleString("OK"))
        admin.close()
        let kvlab = try startServer(configuration: ServerConfiguration(port: 0, threads: 1, requirePassword: "pw"))
        defer { try? kvlab.shutdown() }
        let inputs = [
            "*1\r\n$+4\r\nPING\r\n", "*1\r\n$004\r\nPING\r\n", "*+1\r\n$4\r\nPING\r\n", "*01\r\n$4\r\nPING\r\n",
            "*-0\r\nPING\r\n", "*1\r\n$-0\r\n", "*1\r\n$ 4\r\nPING\r\n", "*3000000000\r\n",
            "*-2\r\nPING\r\n", "*0\r\nPING\r\n", "*10\r\n", "*11\r\n",
            "*2\r\n$4\r\nAUTH\r\n$16384\r\n", "*2\r\n$4\r\nAUTH\r\n$16385\r\n",
            "*2\r\n$4\r\nAUTH\r\n$1\r\nx\r\nPING\r\n", "AUTH pw\r\n*11\r\n$3\r\nDEL\r\n" + String(repeating: "$1\r\nk\r\n", count: 10),
        ]
        for input in inputs {
            let a = try RawSocket(host: "127.0.0.1", port: redis.port)
            let b = try RawSocket(host: "127.0.0.1", port: kvlab.port)
            try a.send(input)
            try b.send(input)
            let fromRedis = a.receiveText(quiet: 0.4)
            let fromKVLab = b.receiveText(quiet: 0.4)
            a.close()
            b.close()
            #expect(fromKVLab.text == fromRedis.text, "\(input.debugDescription)")
            #expect(fromKVLab.closed == fromRedis.closed, "\(input.debugDescription): closed \(fromKVLab.closed) vs Redis \(fromRedis.closed)")
        }
    }
}
