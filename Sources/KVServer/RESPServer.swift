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
/// order on its event loop (`CommandExecutor.execute`), and writes their replies with one
/// flush — so a pipelined batch costs one write — or sooner, every 64 KiB of replies.
///
/// Backpressure: when a client's socket stops taking replies (NIO reports the channel not
/// writable), the connection stops executing that client's commands and stops reading from
/// it until the replies drain, so a client that pipelines and never reads costs at most one
/// command's reply. `client-output-buffer-limit` can also disconnect it. Buffers that grew
/// for a burst (a large command or reply) are released after it.
///
/// A client that sends malformed input, exceeds a limit (bulk length, array length, inline
/// size, query buffer, Redis's tighter limits before AUTH) or connects beyond `maxClients`
/// gets an error reply and is disconnected; others carry on. With protected mode on and no
/// password, clients from beyond loopback get Redis's `-DENIED` reply.
public final class RESPServer: Sendable {
    public let executor: CommandExecutor
    let group: MultiThreadedEventLoopGroup
    let logger: Logger
    private let channelBox = ChannelBox()
    /// Set by the first `shutdown()`: a second call returns at once (closing a channel whose
    /// event loops are gone would wait forever).
    private let stopped = Mutex(false)
    /// appendfsync always: one fsync per event-loop turn before that turn's replies (ReplyBarrier.swift).
    let barriers: [ObjectIdentifier: ReplyBarrier]

    public init(executor: CommandExecutor, logger: Logger = Logger(label: "kvlab.server")) {
        self.executor = executor
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, executor.configuration.threads))
        barriers = ReplyBarrier.perLoop(group, executor: executor)
    }

    /// Binds and starts accepting connections.
    /// - Returns: the bound port (useful with port 0).
    @discardableResult
    public func start() throws -> Int {
        let executor = self.executor
        let logger = self.logger
        let idle = executor.configuration.idleTimeoutSeconds
        let barriers = self.barriers
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
                    try channel.pipeline.syncOperations.addHandler(RESPConnectionHandler(executor: executor, logger: logger,
                                                                                                barrier: barriers[ObjectIdentifier(channel.eventLoop)]))
                }
            }
        let channel = try bootstrap.bind(host: executor.configuration.host, port: executor.configuration.port).wait()
        channelBox.set(channel)
        let port = channel.localAddress?.port ?? executor.configuration.port
        executor.boundPort.set(port)
        executor.startActiveExpiry(on: group.next())
        executor.replication.start(group: group)
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

    /// Stops replication, accepting and every connection, stops the event loops, then flushes
    /// and closes the engine. Idempotent: later calls return at once.
    public func shutdown() throws {
        let first = stopped.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        executor.replication.stop()
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

/// One client connection: accumulate bytes, parse commands, execute, reply; stop executing and
/// reading while the client does not take its replies.
final class RESPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Replies are written once this many bytes are waiting (16 KiB chunks in Redis; 64 KiB is
    /// NIO's default high-water mark, so one chunk can fill the channel's write buffer).
    static let flushThreshold = 64 * 1024
    /// Buffers larger than this are dropped (and reallocated small) once a burst is over.
    static let shrinkThreshold = 1 << 20

    /// Redis's reply to a non-loopback client in protected mode, verbatim (redis-server 7.0).
    static let protectedModeDenied = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."

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
    /// The loop's fsync barrier under appendfsync always, and the context it flushes through.
    let barrier: ReplyBarrier?
    var context: ChannelHandlerContext?
    /// Execution stopped because the channel is not writable; resumes when it is.
    var outputPaused = false
    /// A read was held back while output was paused; issued when it resumes.
    var readHeld = false
    /// When the pending output first reached the soft limit (ms, the executor's clock); nil below it.
    var softLimitSince: Int64? = nil
    var softLimitCheck: Scheduled<Void>? = nil
    /// A reply is parked until replicas ack (WAIT, a sync-mode write): execution and reads stop.
    var waitingForReplicas = false
    /// After PSYNC this connection carries the replication stream (ReplicaFeed).
    var feedAttached = false
    /// The controller's id of this connection's parked wait, dropped if the client goes first.
    var parkedWaitID: Int?

    init(executor: CommandExecutor, logger: Logger, barrier: ReplyBarrier? = nil) {
        self.executor = executor
        self.logger = logger
        self.barrier = barrier
        state = executor.makeConnectionState()
        parser = RESPCommandParser(limits: executor.configuration.limits)
        reply = Reply(buffer: ByteBufferAllocator().buffer(capacity: 0))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        reply.buffer = context.channel.allocator.buffer(capacity: 4096)
        state.peer = context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? ""
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        softLimitCheck?.cancel()
        softLimitCheck = nil
    }

    /// Loopback as Redis's protected mode sees it: 127.0.0.0/8 and ::1 (and IPv4-mapped 127/8).
    static func isLoopback(_ address: SocketAddress?) -> Bool {
        switch address {
        case .v4(let a)?:
            return UInt32(bigEndian: a.address.sin_addr.s_addr) >> 24 == 127
        case .v6?:
            guard let ip = address?.ipAddress?.lowercased() else { return false }
            return ip == "::1" || ip.hasPrefix("::ffff:127.")
        case .unixDomainSocket?:
            return true
        case nil:
            return false
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        let stats = executor.statistics
        stats.totalConnectionsReceived.add(1, ordering: .relaxed)
        let connected = stats.connectedClients.add(1, ordering: .relaxed).newValue
        counted = true
        let configuration = executor.configuration
        if connected > configuration.maxClients {
            stats.rejectedConnections.add(1, ordering: .relaxed)
            logger.warning("rejecting a client: max number of clients reached", metadata: ["peer": "\(state.peer)"])
            reply.error("ERR max number of clients reached")
            closeAfterReply(context: context)
        } else if configuration.protectedMode && configuration.requirePassword == nil
                    && !Self.isLoopback(context.channel.remoteAddress) {
            stats.rejectedConnections.add(1, ordering: .relaxed)
            logger.warning("protected mode: refusing a client from beyond loopback", metadata: ["peer": "\(state.peer)"])
            reply.error(Self.protectedModeDenied)
            closeAfterReply(context: context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            executor.statistics.connectedClients.subtract(1, ordering: .relaxed)
            counted = false
        }
        softLimitCheck?.cancel()
        softLimitCheck = nil
        if let feed = state.replicaFeed { executor.replication.detach(feed) }
        if let id = parkedWaitID {
            parkedWaitID = nil
            executor.replication.cancelWait(id)
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
        // While output is paused the bytes wait (at most one read's worth: reads are held).
        if !outputPaused && !waitingForReplicas { process(context: context) }
    }

    private func process(context: ChannelHandlerContext) {
        guard var buffer = input else { return }
        input = nil
        defer {
            if !closing {
                if buffer.readableBytes == 0 {
                    input = nil
                } else {
                    // After a burst, keep a small remainder in a small buffer.
                    if buffer.capacity > Self.shrinkThreshold && buffer.readableBytes < Self.shrinkThreshold / 4 {
                        var small = context.channel.allocator.buffer(capacity: buffer.readableBytes)
                        small.writeBuffer(&buffer)
                        buffer = small
                    }
                    input = buffer
                }
            }
        }
        while buffer.readableBytes > 0 && !outputPaused && !waitingForReplicas {
            let base = consumed
            // Redis's tighter limits apply until the client authenticates.
            parser.unauthenticated = !state.authenticated
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
                if command.isEmpty {
                    // A replica's keep-alive newline while it loads a snapshot.
                    if let feed = state.replicaFeed { executor.replication.keepAlive(feed) }
                    continue
                }
                executor.execute(command, state: &state, reply: &reply)
                if state.replicaFeed != nil && !feedAttached, let feed = state.replicaFeed {
                    // The PSYNC reply (and snapshot) leave first, then the stream.
                    feedAttached = true
                    flushReplies(context: context)
                    feed.attach(context.channel)
                    // Completes once every byte before it (the snapshot) is written.
                    let replication = executor.replication
                    let sent = context.eventLoop.makePromise(of: Void.self)
                    sent.futureResult.whenSuccess { replication.transferDone(feed) }
                    context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: sent)
                }
                if let request = state.waitRequest {
                    state.waitRequest = nil
                    park(request, context: context)
                }
                if command.capacityInBytes > Self.shrinkThreshold { command = RESPCommand() }
                if state.shouldClose {
                    closeAfterReply(context: context)
                    return
                }
                if reply.buffer.readableBytes >= Self.flushThreshold {
                    flushReplies(context: context)
                    if closing { return }
                    // The client is not taking its replies: stop here, resume when it does.
                    if !context.channel.isWritable { outputPaused = true }
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
        // appendfsync always: the fsync covering this read's writes, before any reply leaves.
        executor.completeWrites(state: &state, reply: &reply)
        guard reply.buffer.readableBytes > 0 else { return }
        if executor.configuration.outputBufferLimit.isEnabled && !closing && overOutputLimit(context: context) { return }
        executor.statistics.totalNetOutputBytes.add(reply.buffer.readableBytes, ordering: .relaxed)
        context.writeAndFlush(wrapOutboundOut(reply.buffer), promise: nil)
        if reply.buffer.capacity > Self.shrinkThreshold {
            // A burst is over: let the large storage go with the write rather than keep (or,
            // shared with the pending write, reallocate) it.
            reply.buffer = context.channel.allocator.buffer(capacity: 4096)
        } else {
            // Reuses the storage when the write already completed and released it.
            reply.buffer.clear()
        }
        // A failed fsync barrier (completeWrites above) replaced the replies with one error and
        // marked the connection: close now, so no further command of this read (or of bytes
        // already buffered) runs after the client was told its writes may not be durable.
        if state.shouldClose && !closing {
            closing = true
            input = nil
            context.close(promise: nil)
        }
    }

    // MARK: Output limit (Redis's client-output-buffer-limit for normal clients)

    /// Output waiting for this client: replies not yet handed to the channel plus what the
    /// channel has not written to the socket yet.
    private func pendingOutputBytes(context: ChannelHandlerContext) -> Int {
        let channelBytes = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        return reply.buffer.readableBytes + channelBytes
    }

    /// Checks the limit against the pending output; closes the connection and returns true
    /// when the client is over it (its pending replies are dropped, as Redis does).
    private func overOutputLimit(context: ChannelHandlerContext) -> Bool {
        let limit = executor.configuration.outputBufferLimit
        let pending = pendingOutputBytes(context: context)
        if limit.hardBytes > 0 && pending >= limit.hardBytes {
            closeForOutputLimit(context: context, pending: pending, reason: "hard")
            return true
        }
        if limit.softBytes > 0 && pending >= limit.softBytes {
            let now = executor.clock.millisecondsSinceEpoch()
            if let since = softLimitSince {
                if now - since >= Int64(limit.softSeconds) * 1000 {
                    closeForOutputLimit(context: context, pending: pending, reason: "soft")
                    return true
                }
            } else {
                softLimitSince = now
                scheduleSoftLimitCheck(context: context, after: limit.softSeconds)
            }
        } else {
            softLimitSince = nil
        }
        return false
    }

    /// A client that never reads produces no events: a timer re-checks the soft limit.
    private func scheduleSoftLimitCheck(context: ChannelHandlerContext, after seconds: Int) {
        softLimitCheck?.cancel()
        let delay = TimeAmount.milliseconds(Int64(max(seconds, 0)) * 1000 + 10)
        softLimitCheck = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            softLimitCheck = nil
            guard !closing, softLimitSince != nil else { return }
            if !overOutputLimit(context: context), softLimitSince != nil {
                scheduleSoftLimitCheck(context: context, after: 1)
            }
        }
    }

    private func closeForOutputLimit(context: ChannelHandlerContext, pending: Int, reason: String) {
        executor.statistics.outputBufferLimitDisconnections.add(1, ordering: .relaxed)
        logger.warning("Client scheduled to be closed ASAP for overcoming of output buffer limits.",
                       metadata: ["peer": "\(state.peer)", "pending": "\(pending)", "limit": "\(reason)"])
        closing = true
        input = nil
        reply.buffer = context.channel.allocator.buffer(capacity: 0)
        softLimitCheck?.cancel()
        softLimitCheck = nil
        context.close(promise: nil)
    }

    // MARK: Flow control

    func channelReadComplete(context: ChannelHandlerContext) {
        if let barrier, state.unsyncedWriteCommands > 0, !closing {
            barrier.enqueue(self)  // replies go out after this turn's fsync (repliesDurable)
            executor.statistics.collect(&state)
            context.fireChannelReadComplete()
            return
        }
        flushReplies(context: context)
        if state.shouldClose && !closing {  // a failed fsync barrier
            closing = true
            context.close(promise: nil)
        }
        executor.statistics.collect(&state)
        shrinkAfterBurst()
        context.fireChannelReadComplete()
    }

    /// Called by the loop's `ReplyBarrier` after the fsync that covers this connection's writes.
    func repliesDurable(barrierFailure: EngineError?) {
        guard let context, !closing else { return }
        executor.completeWrites(state: &state, reply: &reply, barrierFailure: barrierFailure)
        flushReplies(context: context)
        if state.shouldClose && !closing {
            closing = true
            context.close(promise: nil)
        }
        // channelReadComplete skipped this for a read that waited for the barrier.
        shrinkAfterBurst()
    }

    // MARK: Waiting for replicas (WAIT, --repl-ack sync)

    /// Parks `request`'s reply without blocking the event loop: the replies before it leave,
    /// execution and reading stop, and the acks (or the timeout) resume the connection.
    private func park(_ request: ReplicationWaitRequest, context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        flushReplies(context: context)
        waitingForReplicas = true
        let registration = executor.replication.wait(target: request.targetOffset, needed: request.replicasNeeded,
                                                     timeoutMilliseconds: request.timeoutMilliseconds, eventLoop: loop) { count in
            loop.execute { bound.value.finishWait(request, count: count) }
        }
        switch registration {
        case .reached(let count): finishWait(request, count: count)
        case .parked(let id): parkedWaitID = id
        }
    }

    private func finishWait(_ request: ReplicationWaitRequest, count: Int) {
        parkedWaitID = nil
        guard waitingForReplicas, let context, !closing else { return }
        waitingForReplicas = false
        executor.completeWait(request, count: count, reply: &reply)
        flushReplies(context: context)
        // Commands that arrived meanwhile run now, then reading resumes.
        if input != nil && !outputPaused {
            process(context: context)
            flushReplies(context: context)
        }
        executor.statistics.collect(&state)
        if readHeld && !outputPaused && !waitingForReplicas && !closing && context.channel.isWritable {
            readHeld = false
            context.read()
        }
    }

    /// Holds reads back while the client's replies do not drain (NIO's autoRead asks for the
    /// next read after every read; not forwarding it stops reading from the socket).
    func read(context: ChannelHandlerContext) {
        if outputPaused || waitingForReplicas || !context.channel.isWritable {
            readHeld = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && !closing {
            if outputPaused {
                outputPaused = false
                process(context: context)
                flushReplies(context: context)
                executor.statistics.collect(&state)
                shrinkAfterBurst()
            }
            if readHeld && !outputPaused && !closing && context.channel.isWritable {
                readHeld = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    /// Releases scratch space a large command or value grew (Redis shrinks query and reply
    /// buffers in its cron; here it happens once the burst is over).
    private func shrinkAfterBurst() {
        if state.valueScratch.capacity > Self.shrinkThreshold { state.valueScratch = [] ; state.valueScratch.reserveCapacity(1024) }
        if state.auxScratch.capacity > Self.shrinkThreshold { state.auxScratch = [] }
        if state.keyScratch.capacity > Self.shrinkThreshold { state.keyScratch = []; state.keyScratch.reserveCapacity(256) }
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
