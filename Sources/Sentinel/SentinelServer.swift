// The sentinel's RESP listener: commands framed by the RESP module's decoder, answered by SentinelNode.

import NIOCore
import NIOPosix
import RESP
import Synchronization

/// Listens for clients and peer sentinels on `host:port` and answers each command with
/// `SentinelNode.execute` (RESP2 replies). Small on purpose: a sentinel has no keyspace, so
/// the kvlab server's command executor does not fit; the RESP parser and writer are shared.
public final class SentinelServer: Sendable {
    public let node: SentinelNode
    let group: MultiThreadedEventLoopGroup
    private let channel = Mutex<Channel?>(nil)
    /// Commands answered since start (tests check that a client which never reads stops being served).
    public let commandsProcessed = Atomic<Int>(0)

    public init(node: SentinelNode) {
        self.node = node
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Binds and starts answering. - Returns: the bound port (useful with port 0).
    @discardableResult
    public func start(host: String, port: Int) throws -> Int {
        let node = self.node
        let server = self
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPCommandDecoder()))
                    try channel.pipeline.syncOperations.addHandler(SentinelCommandHandler(node: node, server: server))
                }
            }
        let bound = try bootstrap.bind(host: host, port: port).wait()
        channel.withLock { $0 = bound }
        let actual = bound.localAddress?.port ?? port
        node.serverPort.store(actual, ordering: .relaxed)
        return actual
    }

    /// Blocks until the listener is closed.
    public func waitUntilClosed() {
        guard let c = channel.withLock({ $0 }) else { return }
        try? c.closeFuture.wait()
    }

    /// Closes the listener (ends `waitUntilClosed`).
    public func closeListener() { channel.withLock { $0 }?.close(promise: nil) }

    /// Stops the node, closes every connection and the event loop.
    public func shutdown() throws {
        node.stop()
        if let c = channel.withLock({ $0 }) { try? c.close().wait() }
        try group.syncShutdownGracefully()
    }
}

/// One connection: each decoded command is executed and its reply written; a read's replies
/// are flushed together. Malformed input gets an error reply and the connection is closed.
/// A client that does not read its replies stops being read (autoRead follows the channel's
/// writability): before, a pipelining client that never read grew the outbound buffer without
/// bound and kept the sentinel's one event loop busy, so peers and clients got no answers.
final class SentinelCommandHandler: ChannelInboundHandler {
    typealias InboundIn = RESPCommand
    typealias OutboundOut = ByteBuffer
    let node: SentinelNode
    let server: SentinelServer
    /// The protocol the client chose with HELLO (RESP2 until then).
    var resp3 = false

    init(node: SentinelNode, server: SentinelServer) {
        self.node = node
        self.server = server
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: writable)
        if writable { context.read() }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let command = unwrapInboundIn(data)
        let arguments = (0..<command.count).map { command.string($0) }
        let reply = node.execute(arguments, resp3: resp3)
        server.commandsProcessed.add(1, ordering: .relaxed)
        if arguments.first?.lowercased() == "hello", arguments.count > 1, !reply.isError { resp3 = arguments[1] == "3" }
        var buffer = context.channel.allocator.buffer(capacity: 256)
        if resp3 && reply.isNull {
            buffer.writeString("_\r\n")  // RESP3's null (the shared writer writes RESP2's)
        } else {
            RESPWriter.value(reply, &buffer)
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
        if arguments.first?.lowercased() == "quit" { context.close(promise: nil) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        var buffer = context.channel.allocator.buffer(capacity: 128)
        RESPWriter.value(.error("ERR Protocol error: \(error)"), &buffer)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        context.close(promise: nil)
    }
}
