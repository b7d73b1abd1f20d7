// The transport: SwiftNIO event loops frame bytes into commands and replies; nothing else.

import KVCore
import Logging
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// A RESP server in front of a `Keyspace`, on `configuration.threads` NIO event loops.
///
/// Each connection parses as many complete commands as one read delivered, executes them in
/// order on its event loop (`CommandExecutor.execute`), and writes all their replies with one
/// flush — so a pipelined batch costs one write. A client that sends malformed input, exceeds
/// a limit (bulk length, array length, inline size, query buffer) or connects beyond
/// `maxClients` gets an error reply and is disconnected; others carry on.
public final class RESPServer: Sendable {
    public let executor: CommandExecutor
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let channelBox = ChannelBox()

    public init(executor: CommandExecutor, logger: Logger = Logger(label: "kvlab.server")) {
        self.executor = executor
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, executor.configuration.threads))
    }

    /// Binds and starts accepting connections.
    /// - Returns: the bound port (useful with port 0).
    @discardableResult
    public func start() throws -> Int {
        let executor = self.executor
        let logger = self.logger
        let idle = executor.configuration.idleTimeoutSeconds
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 511)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if idle > 0 {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(Int64(idle))))
                    }
                    try channel.pipeline.syncOperations.addHandler(RESPConnectionHandler(executor: executor, logger: logger))
                }
            }
        let channel = try bootstrap.bind(host: executor.configuration.host, port: executor.configuration.port).wait()
        channelBox.set(channel)
        let port = channel.localAddress?.port ?? executor.configuration.port
        executor.boundPort.set(port)
        executor.startActiveExpiry(on: group.next())
        logger.info("kvlab RESP server listening", metadata: [
            "address": "\(executor.configuration.host):\(port)", "engine": "\(executor.keyspace.engineName)",
            "threads": "\(executor.configuration.threads)"])
        return port
    }

    /// The bound port (after `start`).
    public var port: Int { executor.boundPort.port }

    /// Blocks until the listening socket is closed (by `shutdown`).
    public func waitUntilClosed() {
        guard let channel = channelBox.get() else { return }
        try? channel.closeFuture.wait()
    }

    /// Closes the listening socket, which ends `waitUntilClosed` (signal handlers call this).
    public func closeListener() {
        channelBox.get()?.close(promise: nil)
    }

    /// Stops accepting, closes every connection, stops the event loops, then flushes and
    /// closes the engine.
    public func shutdown() throws {
        if let channel = channelBox.get() {
            try? channel.close().wait()
        }
        try group.syncShutdownGracefully()
        try executor.keyspace.close()
        logger.info("kvlab RESP server stopped; engine flushed and closed")
    }
}

/// The listening channel, set once after bind.
final class ChannelBox: Sendable {
    private let value = Mutex<Channel?>(nil)
    func set(_ channel: Channel) { value.withLock { $0 = channel } }
    func get() -> Channel? { value.withLock { $0 } }
}

/// One client connection: accumulate bytes, parse commands, execute, reply.
final class RESPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let executor: CommandExecutor
    let logger: Logger
    var state: ConnectionState
    var parser: RESPCommandParser
    var command = RESPCommand()
    /// Bytes received and not yet parsed.
    var input: ByteBuffer? = nil
    /// Stream offset of `input`'s first readable byte (for error offsets).
    var consumed = 0
    var reply: Reply
    var closing = false
    var counted = false

    init(executor: CommandExecutor, logger: Logger) {
        self.executor = executor
        self.logger = logger
        state = executor.makeConnectionState()
        parser = RESPCommandParser(limits: executor.configuration.limits)
        reply = Reply(buffer: ByteBufferAllocator().buffer(capacity: 0))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        reply.buffer = context.channel.allocator.buffer(capacity: 4096)
        state.peer = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? ""
    }

    func channelActive(context: ChannelHandlerContext) {
        let stats = executor.statistics
        stats.totalConnectionsReceived.add(1, ordering: .relaxed)
        let connected = stats.connectedClients.add(1, ordering: .relaxed).newValue
        counted = true
        if connected > executor.configuration.maxClients {
            stats.rejectedConnections.add(1, ordering: .relaxed)
            logger.warning("rejecting a client: max number of clients reached", metadata: ["peer": "\(state.peer)"])
            reply.error("ERR max number of clients reached")
            closeAfterReply(context: context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            executor.statistics.connectedClients.subtract(1, ordering: .relaxed)
            counted = false
        }
        executor.statistics.collect(&state)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var incoming = unwrapInboundIn(data)
        executor.statistics.totalNetInputBytes.add(incoming.readableBytes, ordering: .relaxed)
        if var buffered = input, buffered.readableBytes > 0 {
            input = nil  // keep the buffer uniquely referenced while appending
            buffered.writeBuffer(&incoming)
            input = buffered
        } else {
            input = incoming
        }
        process(context: context)
    }

    private func process(context: ChannelHandlerContext) {
        guard var buffer = input else { return }
        input = nil
        defer { if !closing { input = buffer.readableBytes > 0 ? buffer : nil } }
        while buffer.readableBytes > 0 {
            let base = consumed
            let result: Result<Int?, RESPParseError> = buffer.withUnsafeReadableBytes { raw in
                do throws(RESPParseError) {
                    return .success(try parser.parse(raw, baseOffset: base, into: &command))
                } catch {
                    return .failure(error)
                }
            }
            switch result {
            case .failure(let error):
                protocolError(error, context: context)
                return
            case .success(nil):
                let limit = executor.configuration.limits.maxQueryBuffer
                if buffer.readableBytes > limit {
                    protocolError(.queryBufferExceeded(size: buffer.readableBytes, limit: limit), context: context)
                    return
                }
                if buffer.readerIndex > 65536 { buffer.discardReadBytes() }
                return
            case .success(let n?):
                buffer.moveReaderIndex(forwardBy: n)
                consumed += n
                if command.isEmpty { continue }
                executor.execute(command, state: &state, reply: &reply)
                if state.shouldClose {
                    closeAfterReply(context: context)
                    return
                }
            }
        }
    }

    private func protocolError(_ error: RESPParseError, context: ChannelHandlerContext) {
        executor.statistics.protocolErrors.add(1, ordering: .relaxed)
        logger.info("closing a client after a protocol error", metadata: ["peer": "\(state.peer)", "error": "\(error)"])
        reply.error("ERR \(error.redisMessage)")
        closeAfterReply(context: context)
    }

    private func closeAfterReply(context: ChannelHandlerContext) {
        closing = true
        input = nil
        flushReplies(context: context)
        context.close(promise: nil)
    }

    private func flushReplies(context: ChannelHandlerContext) {
        guard reply.buffer.readableBytes > 0 else { return }
        executor.statistics.totalNetOutputBytes.add(reply.buffer.readableBytes, ordering: .relaxed)
        context.writeAndFlush(wrapOutboundOut(reply.buffer), promise: nil)
        // Reuses the storage when the write already completed and released it.
        reply.buffer.clear()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushReplies(context: context)
        executor.statistics.collect(&state)
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            logger.info("closing an idle client", metadata: ["peer": "\(state.peer)"])
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error", metadata: ["peer": "\(state.peer)", "error": "\(error)"])
        context.close(promise: nil)
    }
}
