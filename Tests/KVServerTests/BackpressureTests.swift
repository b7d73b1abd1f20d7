// Output backpressure and client limits on EmbeddedChannel: replies flushed as they grow,
// execution and reads held while the channel is not writable, the output limit, buffers
// released after a burst, protected mode, and Redis's limits before AUTH.

import Foundation
import NIOCore
import NIOEmbedded
@testable import KVServer
import RESP
import Testing

/// Counts the reads that reach the head of the pipeline (the socket, in a real channel).
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// An EmbeddedChannel with the connection handler, a read counter in front of it, and a peer.
struct EmbeddedConnection {
    let channel: EmbeddedChannel
    let handler: RESPConnectionHandler
    let reads: ReadCounter
    let executor: CommandExecutor

    init(_ configuration: ServerConfiguration = ServerConfiguration(port: 0), peer: String = "127.0.0.1") throws {
        executor = try makeExecutor(configuration: configuration)
        handler = RESPConnectionHandler(executor: executor, logger: executor.logger)
        reads = ReadCounter()
        channel = EmbeddedChannel(handlers: [reads, handler])
        try channel.connect(to: SocketAddress(ipAddress: peer, port: 50000)).wait()
    }

    /// Delivers `text` as one read (without the read-complete event unless `complete`).
    func send(_ text: String, complete: Bool = true) throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try channel.writeInbound(buffer)
        if complete { channel.pipeline.fireChannelReadComplete() }
    }

    /// The bytes written so far, and how many writes carried them.
    func output() throws -> (text: String, writes: Int) {
        var text = ""
        var writes = 0
        while var b = try channel.readOutbound(as: ByteBuffer.self) {
            writes += 1
            text += b.readString(length: b.readableBytes) ?? ""
        }
        return (text, writes)
    }

    /// Stores a value directly through the executor.
    func store(_ key: String, bytes: Int) {
        var state = executor.makeConnectionState()
        _ = executor.execute(["SET", key, String(repeating: "v", count: bytes)], state: &state)
    }
}

@Suite("Output backpressure and client limits (EmbeddedChannel)")
struct BackpressureTests {
    static let getBig = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"

    @Test("replies are written every 64 KiB within one read, not only when the read is complete")
    func flushedAsTheyGrow() throws {
        let c = try EmbeddedConnection()
        c.store("big", bytes: 100_000)
        try c.send(String(repeating: Self.getBig, count: 3), complete: false)
        let early = try c.output()
        #expect(early.writes == 3, "replies written before read-complete: \(early.writes)")
        #expect(early.text.count == 3 * (100_000 + "$100000\r\n\r\n".count))
        _ = try? c.channel.finish()
    }

    @Test("while the channel is not writable, commands wait and reads are held; both resume when it drains")
    func pausesWhileNotWritable() throws {
        let c = try EmbeddedConnection()
        c.store("big", bytes: 100_000)
        c.channel.isWritable = false
        try c.send(String(repeating: Self.getBig, count: 3) + "PING\r\n")
        #expect(try c.output().writes == 1, "only the first GET runs before the client drains")
        #expect(c.handler.outputPaused)
        let readsBefore = c.reads.reads
        c.channel.read()  // what autoRead does after a read
        #expect(c.reads.reads == readsBefore, "a read went to the socket while output was paused")
        c.channel.isWritable = true
        c.channel.pipeline.fireChannelWritabilityChanged()
        let rest = try c.output()
        #expect(rest.text.hasSuffix("+PONG\r\n"))
        #expect(rest.text.count == 2 * (100_000 + "$100000\r\n\r\n".count) + "+PONG\r\n".count)
        #expect(!c.handler.outputPaused)
        #expect(c.reads.reads == readsBefore + 1, "the held read was not issued when the client drained")
        _ = try? c.channel.finish()
    }

    @Test("a reply reaching the hard output limit closes the client without sending it")
    func hardLimit() throws {
        var configuration = ServerConfiguration(port: 0)
        configuration.outputBufferLimit = try OutputBufferLimit(parsing: "normal 100kb 0 0")
        let c = try EmbeddedConnection(configuration)
        c.store("big", bytes: 200_000)
        try c.send("PING\r\n")
        #expect(try c.output().text == "+PONG\r\n")
        try c.send(Self.getBig)
        #expect(try c.output().text == "")
        #expect(!c.channel.isActive)
        #expect(c.executor.statistics.outputBufferLimitDisconnections.load(ordering: .relaxed) == 1)
        #expect(c.executor.info(sections: ["stats"], state: c.executor.makeConnectionState()).contains("client_output_buffer_limit_disconnections:1"))
    }

    @Test("client-output-buffer-limit parses Redis's forms and units, and rejects others with the reason")
    func limitParsing() throws {
        #expect(try OutputBufferLimit(parsing: "normal 256mb 64mb 60") == OutputBufferLimit(hardBytes: 256 << 20, softBytes: 64 << 20, softSeconds: 60))
        #expect(try OutputBufferLimit(parsing: "1k 2KB 0") == OutputBufferLimit(hardBytes: 1000, softBytes: 2048, softSeconds: 0))
        #expect(try OutputBufferLimit(parsing: "normal 0 0 0") == .none)
        #expect(throws: ServerConfigurationError.self) { try OutputBufferLimit(parsing: "pubsub 1 2 3") }
        #expect(throws: ServerConfigurationError.self) { try OutputBufferLimit(parsing: "normal 1mb 2") }
        #expect(throws: ServerConfigurationError.self) { try OutputBufferLimit(parsing: "normal 1xb 0 0") }
        #expect(throws: ServerConfigurationError.self) { try OutputBufferLimit(parsing: "normal 1 0 -1") }
    }

    @Test("after a 2 MB value is written and read back, the connection's buffers are small again")
    func buffersShrink() throws {
        let c = try EmbeddedConnection()
        let value = String(repeating: "x", count: 2_000_000)
        try c.send("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$2000000\r\n\(value)\r\n" + Self.getBig + "PING\r\n")
        let out = try c.output().text
        #expect(out.hasPrefix("+OK\r\n$2000000\r\n") && out.hasSuffix("+PONG\r\n"))
        #expect(c.handler.reply.buffer.capacity <= RESPConnectionHandler.shrinkThreshold)
        #expect(c.handler.command.capacityInBytes <= RESPConnectionHandler.shrinkThreshold)
        #expect(c.handler.state.valueScratch.capacity <= RESPConnectionHandler.shrinkThreshold)
        #expect(c.handler.input == nil)
        _ = try? c.channel.finish()
    }
}

@Suite("Protected mode and limits before AUTH (EmbeddedChannel)")
struct ProtectedModeTests {
    static let denied = "-" + RESPConnectionHandler.protectedModeDenied + "\r\n"

    @Test("with no password, a client from beyond loopback gets Redis's -DENIED text and is disconnected")
    func deniedBeyondLoopback() throws {
        let c = try EmbeddedConnection(ServerConfiguration(port: 0), peer: "192.0.2.7")
        #expect(try c.output().text == Self.denied)
        #expect(Self.denied.hasPrefix("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."))
        #expect(!c.channel.isActive)
        #expect(c.executor.statistics.rejectedConnections.load(ordering: .relaxed) == 1)
    }

    @Test("loopback peers, --protected-mode no, or a password let a remote client in")
    func allowed() throws {
        for peer in ["127.0.0.1", "127.8.9.10", "::1"] {
            let c = try EmbeddedConnection(ServerConfiguration(port: 0), peer: peer)
            try c.send("PING\r\n")
            #expect(try c.output().text == "+PONG\r\n", "\(peer)")
            _ = try? c.channel.finish()
        }
        var off = ServerConfiguration(port: 0)
        off.protectedMode = false
        let open = try EmbeddedConnection(off, peer: "192.0.2.7")
        try open.send("PING\r\n")
        #expect(try open.output().text == "+PONG\r\n")
        _ = try? open.channel.finish()
        let withPassword = try EmbeddedConnection(ServerConfiguration(port: 0, requirePassword: "pw"), peer: "192.0.2.7")
        try withPassword.send("PING\r\nAUTH pw\r\nPING\r\n")
        #expect(try withPassword.output().text == "-NOAUTH Authentication required.\r\n+OK\r\n+PONG\r\n")
        _ = try? withPassword.channel.finish()
    }

    @Test("before AUTH an 11-element array is refused with Redis's error; after AUTH it runs")
    func unauthenticatedArray() throws {
        let configuration = ServerConfiguration(port: 0, requirePassword: "pw")
        let eleven = "*11\r\n$3\r\nDEL\r\n" + (1...10).map { "$2\r\nk\($0 % 10)\r\n" }.joined()
        let before = try EmbeddedConnection(configuration)
        try before.send(eleven)
        #expect(try before.output().text == "-ERR Protocol error: unauthenticated multibulk length\r\n")
        #expect(!before.channel.isActive)
        let after = try EmbeddedConnection(configuration)
        try after.send("*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n" + eleven)
        #expect(try after.output().text == "+OK\r\n:0\r\n")
        _ = try? after.channel.finish()
    }

    @Test("failed AUTH and HELLO AUTH are counted in INFO stats; CONFIG GET requirepass does not show the password")
    func authCountedAndRedacted() throws {
        let c = try EmbeddedConnection(ServerConfiguration(port: 0, requirePassword: "s3cret"))
        try c.send("AUTH wrong\r\nHELLO 3 AUTH default nope\r\nAUTH s3cret\r\nCONFIG GET requirepass\r\nINFO stats\r\n")
        let out = try c.output().text
        #expect(out.hasPrefix("-WRONGPASS invalid username-password pair or user is disabled.\r\n-WRONGPASS"))
        #expect(!out.contains("s3cret"))
        #expect(out.contains("*2\r\n$11\r\nrequirepass\r\n$10\r\n(redacted)\r\n"))
        #expect(out.contains("acl_access_denied_auth:2"))
        _ = try? c.channel.finish()
    }
}
