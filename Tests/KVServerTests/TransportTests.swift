// The transport: the connection handler on EmbeddedChannel, then real loopback sockets with
// kvlab's client, redis-cli and redis-benchmark.

import Foundation
import KVLabTestSupport
import KVClient
import KVCore
import NIOCore
import NIOEmbedded
@testable import KVServer
import RESP
import Testing

@Suite("Connection handler on EmbeddedChannel")
struct EmbeddedHandlerTests {
    func channel(_ configuration: ServerConfiguration = ServerConfiguration(port: 0)) throws -> EmbeddedChannel {
        let executor = try makeExecutor(configuration: configuration)
        let channel = EmbeddedChannel(handler: RESPConnectionHandler(executor: executor, logger: executor.logger))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        return channel
    }

    func send(_ channel: EmbeddedChannel, _ text: String) throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try channel.writeInbound(buffer)
        channel.pipeline.fireChannelReadComplete()
    }

    func output(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var b = try channel.readOutbound(as: ByteBuffer.self) { text += b.readString(length: b.readableBytes) ?? "" }
        return text
    }

    @Test("pipelined commands written a byte at a time get their replies in order")
    func pipelinedBytewise() throws {
        let ch = try channel()
        let stream = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\nGET k\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
        for c in stream { try send(ch, String(c)) }
        #expect(try output(ch) == "+OK\r\n$2\r\nv1\r\n+PONG\r\n$0\r\n\r\n")
        #expect(ch.isActive)
        _ = try? ch.finish()
    }

    @Test("malformed input gets a protocol error and the connection is closed")
    func malformedCloses() throws {
        let ch = try channel()
        try send(ch, "PING\r\n*1\r\n+PING\r\nPING\r\n")
        #expect(try output(ch) == "+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n")
        #expect(!ch.isActive)
    }

    @Test("a bulk beyond proto-max-bulk-len is refused with an error and a disconnect")
    func bulkLimit() throws {
        var c = ServerConfiguration(port: 0)
        c.limits.maxBulkLength = 16
        let ch = try channel(c)
        try send(ch, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$17\r\n")
        #expect(try output(ch) == "-ERR Protocol error: invalid bulk length\r\n")
        #expect(!ch.isActive)
    }

    @Test("QUIT replies OK and closes")
    func quit() throws {
        let ch = try channel()
        try send(ch, "QUIT\r\nPING\r\n")
        #expect(try output(ch) == "+OK\r\n")
        #expect(!ch.isActive)
    }
}

@Suite("Server on a loopback socket", .serialized)
struct LoopbackServerTests {
    @Test("kvlab's client: round trips, a 10,000-command pipeline, RESP3, binary values")
    func clientRoundTrips() throws {
        let server = try startServer()
        defer { try? server.shutdown() }
        let c = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), timeoutSeconds: 10)
        #expect(try c.call(["SET", "k", "v"]) == .simpleString("OK"))
        #expect(try c.call(["GET", "k"]) == .bulk("v"))
        let binary: [UInt8] = [0, 13, 10, 255, 36]
        #expect(try c.call(arguments: [Array("SET".utf8), binary, binary]) == .simpleString("OK"))
        #expect(try c.call(arguments: [Array("GET".utf8), binary]) == .bulkString(binary))
        let commands = (0..<10_000).map { ["SET", "key:\($0)", "value:\($0)"] }
        let replies = try c.pipeline(commands)
        #expect(replies.count == 10_000 && replies.allSatisfy { $0 == .simpleString("OK") })
        let gets = try c.pipeline((0..<10_000).map { ["GET", "key:\($0)"] })
        #expect(gets.enumerated().allSatisfy { $0.element == .bulk("value:\($0.offset)") })
        #expect(try c.call(["DBSIZE"]) == .integer(10_002))
        if case .map = try c.call(["HELLO", "3"]) {} else { Issue.record("HELLO 3 did not answer a map") }
        #expect(try c.call(["HGETALL", "nothing"]) == .map([]))
        c.close()
    }

    @Test("a client breaking a limit is disconnected while another carries on")
    func limitsIsolateClients() throws {
        var configuration = ServerConfiguration(port: 0, threads: 2)
        configuration.limits.maxBulkLength = 1024
        configuration.limits.maxQueryBuffer = 4096
        let server = try startServer(configuration: configuration)
        defer { try? server.shutdown() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        let good = try RESPConnection(endpoint: endpoint, timeoutSeconds: 10)
        let bad = try RESPConnection(endpoint: endpoint, timeoutSeconds: 10)
        bad.appendRaw(Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n".utf8), expectingReplies: 1)
        #expect(try bad.readReply() == .error("ERR Protocol error: invalid bulk length"))
        #expect(throws: RESPClientError.self) { _ = try bad.readReply() }
        // Binary junk and an oversized query buffer (an inline line with no newline).
        let junk = try RESPConnection(endpoint: endpoint, timeoutSeconds: 10)
        junk.appendRaw([UInt8](repeating: 0x41, count: 70_000), expectingReplies: 1)
        #expect(try junk.readReply().isError)
        let truncated = try RESPConnection(endpoint: endpoint, timeoutSeconds: 10)
        truncated.appendRaw(Array("*2\r\n$3\r\nGET\r\n$1".utf8))
        try truncated.flush()
        truncated.close()
        #expect(try good.call(["PING"]) == .simpleString("PONG"))
        #expect(try good.call(["INFO", "stats"]).text?.contains("protocol_errors:2") == true)
    }

    @Test("maxclients refuses the extra client with Redis's error; idle clients are disconnected")
    func maxClientsAndIdle() throws {
        let server = try startServer(configuration: ServerConfiguration(port: 0, threads: 1, maxClients: 2, idleTimeoutSeconds: 1))
        defer { try? server.shutdown() }
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: server.port)
        let a = try RESPConnection(endpoint: endpoint, timeoutSeconds: 5)
        let b = try RESPConnection(endpoint: endpoint, timeoutSeconds: 5)
        #expect(try a.call(["PING"]) == .simpleString("PONG"))
        #expect(try b.call(["PING"]) == .simpleString("PONG"))
        let c = try RESPConnection(endpoint: endpoint, timeoutSeconds: 5)
        #expect(try c.readReply() == .error("ERR max number of clients reached"))
        Thread.sleep(forTimeInterval: 1.6)
        #expect(throws: RESPClientError.self) { _ = try a.call(["PING"]) }
    }

    @Test("redis-cli talks to kvlab's server: inline replies, RESP3, AUTH")
    func redisCLI() throws {
        let cli = try redisTool("redis-cli")
        let server = try startServer(configuration: ServerConfiguration(port: 0, threads: 2, requirePassword: "pw"))
        defer { try? server.shutdown() }
        let p = String(server.port)
        #expect(try runTool(cli, ["-p", p, "PING"]).stdout.contains("NOAUTH"))
        let base = ["-p", p, "-a", "pw", "--no-auth-warning"]
        #expect(try runTool(cli, base + ["SET", "greeting", "hello world"]).stdout == "OK\n")
        #expect(try runTool(cli, base + ["GET", "greeting"]).stdout == "hello world\n")
        #expect(try runTool(cli, base + ["-3", "HSET", "h", "a", "1"]).stdout == "1\n")
        #expect(try runTool(cli, base + ["-3", "HGETALL", "h"]).stdout == "a 1\n")  // redis-cli prints a RESP3 map's pair on one line
        #expect(try runTool(cli, base + ["INCR", "greeting"]).stdout.contains("ERR value is not an integer or out of range"))
        let piped = try runTool(cli, base, input: "SET a 1\nGET a\nDEL a\nDBSIZE\n")
        #expect(piped.stdout == "OK\n1\n1\n2\n")
    }

    @Test("redis-benchmark -t set,get -n 20000 succeeds against kvlab's server")
    func redisBenchmark() throws {
        let benchmark = try redisTool("redis-benchmark")
        let server = try startServer(engine: "hash")
        defer { try? server.shutdown() }
        let run = try runTool(benchmark, ["-p", String(server.port), "-t", "set,get", "-n", "20000", "-q"], timeout: 90)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("SET: ") && run.stdout.contains("GET: "), "\(run.stdout)")
        let piped = try runTool(benchmark, ["-p", String(server.port), "-t", "set,get", "-n", "20000", "-P", "16", "-q"], timeout: 90)
        #expect(piped.status == 0 && piped.stdout.contains("GET: "), "\(piped.stdout) \(piped.stderr)")
        let c = try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port))
        #expect(try c.call(["DBSIZE"]) == .integer(1))  // redis-benchmark uses the one key "key:__rand_int__"
    }
}
