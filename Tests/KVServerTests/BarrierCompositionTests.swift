// The appendfsync-always barrier composed with backpressure (EmbeddedChannel): what happens
// after a failed fsync mid-read, and the buffers a barrier-held read leaves behind.

import KVCore
import NIOCore
import NIOEmbedded
@testable import KVServer
import RESP
import Testing

@Suite("appendfsync always composed with backpressure (EmbeddedChannel)")
struct BarrierCompositionTests {
    func alwaysExecutor(_ engine: FlushCountingEngine) throws -> CommandExecutor {
        var options = EngineOptions([:])
        let durability = try ServerDurability.resolve(appendfsync: .always, options: &options, engine: "lsm", persistent: true)
        let keyspace = try Keyspace(factory: { () throws(EngineError) in engine })
        var configuration = ServerConfiguration(port: 0)
        configuration.durability = durability
        return CommandExecutor(keyspace: keyspace, configuration: configuration, logger: quietLogger)
    }

    static func bulk(_ words: [String]) -> String {
        "*\(words.count)\r\n" + words.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }

    @Test("a failed fsync when replies are flushed mid-read closes the client before its next command runs")
    func failedInlineBarrierStopsTheRead() throws {
        let engine = try FlushCountingEngine(failFlush: true)
        let executor = try alwaysExecutor(engine)
        var setup = executor.makeConnectionState()
        _ = executor.execute(["SET", "big", String(repeating: "v", count: 100_000)], state: &setup)
        let handler = RESPConnectionHandler(executor: executor, logger: quietLogger)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        // One read: a write, a reply large enough to be flushed mid-read (its fsync fails), a write.
        var input = channel.allocator.buffer(capacity: 256)
        input.writeString(Self.bulk(["SET", "a", "1"]) + Self.bulk(["GET", "big"]) + Self.bulk(["SET", "b", "2"]))
        try channel.writeInbound(input)
        var text = ""
        while var b = try channel.readOutbound(as: ByteBuffer.self) { text += b.readString(length: b.readableBytes) ?? "" }
        #expect(text.hasPrefix("-IOERR fsync failed"), "\(text.prefix(80))")
        #expect(!text.contains("+OK"), "a reply was sent after the fsync failure")
        var state = executor.makeConnectionState()
        let b = executor.execute(["GET", "b"], state: &state)
        #expect(b == .null, "SET b ran after its connection was told the fsync failed: \(b)")
        #expect(!channel.isActive, "the connection stayed open after the failed fsync")
        _ = try? channel.finish()
    }

    @Test("a read whose replies waited for the loop's barrier releases the scratch a large value grew")
    func barrierHeldReadShrinks() throws {
        let engine = try FlushCountingEngine()
        let executor = try alwaysExecutor(engine)
        let channel = EmbeddedChannel()
        let barrier = ReplyBarrier(eventLoop: channel.eventLoop, executor: executor)
        let handler = RESPConnectionHandler(executor: executor, logger: quietLogger, barrier: barrier)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 50000)).wait()
        let value = String(repeating: "x", count: 2_000_000)
        var input = channel.allocator.buffer(capacity: 2_100_000)
        input.writeString(Self.bulk(["SET", "big", value]) + Self.bulk(["APPEND", "big", "y"]))
        try channel.writeInbound(input)
        channel.pipeline.fireChannelReadComplete()
        channel.embeddedEventLoop.run()  // the barrier's task
        var text = ""
        while var b = try channel.readOutbound(as: ByteBuffer.self) { text += b.readString(length: b.readableBytes) ?? "" }
        #expect(text == "+OK\r\n:2000001\r\n")
        #expect(engine.flushes.load(ordering: .relaxed) == 1)
        #expect(handler.state.valueScratch.capacity <= RESPConnectionHandler.shrinkThreshold)
        #expect(handler.state.auxScratch.capacity <= RESPConnectionHandler.shrinkThreshold)
        _ = try? channel.finish()
    }
}

@Suite("client-output-buffer-limit values that would overflow")
struct OutputBufferLimitOverflowTests {
    @Test("soft seconds beyond Int32.max are refused, not left to trap when a client reaches the soft limit")
    func hugeSoftSecondsRefused() throws {
        #expect(throws: ServerConfigurationError.self) { try OutputBufferLimit(parsing: "normal 0 1 9223372036854775807") }
        #expect(throws: ServerConfigurationError.self) { try OutputBufferLimit(parsing: "normal 0 1mb 10000000000") }
        #expect(try OutputBufferLimit(parsing: "normal 0 1mb 2147483647").softSeconds == 2_147_483_647)
    }
}
