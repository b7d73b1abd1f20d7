// The replica's connection to its primary: handshake, full or partial sync, then the stream applied in order, with acks.

import KVCore
import Logging
import NIOCore
import RESP

/// One connection of a replica to its primary (one `generation` of the link).
///
/// Handshake, pipelined: `PING`, `REPLCONF listening-port <port>`, `REPLCONF ip-address <ip>`
/// (with `--replica-announce-ip`), `REPLCONF capa eof capa psync2`, then `PSYNC <replid>
/// <offset+1>` with this server's own history, so a replica that was in the primary's history
/// (or a demoted primary whose history the new primary continues) resyncs partially. Then a
/// snapshot (`+FULLRESYNC`) or nothing (`+CONTINUE`), then the stream: each command is applied
/// and appended to this server's own backlog. `REPLCONF ACK <offset>` goes out every
/// `ackIntervalMilliseconds` and at once on `REPLCONF GETACK`.
final class ReplicaLinkHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Phase {
        /// Waiting for the replies to the handshake's commands before PSYNC's.
        case handshake(remaining: Int)
        case psyncReply
        case snapshotHeader(replicationID: String, offset: Int64)
        case snapshotBody(replicationID: String, offset: Int64, length: Int)
        case streaming
        case failed
    }

    let controller: ReplicationController
    let generation: Int
    var phase: Phase = .handshake(remaining: 0)
    var buffer = ByteBuffer()
    var parser: RESPCommandParser
    var command = RESPCommand()
    var ackTask: RepeatedTask?
    /// When the last keep-alive newline went out while a snapshot arrives or loads.
    var lastKeepAliveMilliseconds: Int64 = 0

    init(controller: ReplicationController, generation: Int) {
        self.controller = controller
        self.generation = generation
        var limits = RESPLimits.default
        limits.maxBulkLength = 1 << 30
        limits.maxArrayLength = Int(Int32.max)
        limits.maxQueryBuffer = Int.max
        parser = RESPCommandParser(limits: limits)
    }

    func channelActive(context: ChannelHandlerContext) {
        controller.setLinkState(.connecting, generation: generation)
        var words: [[String]] = [["PING"], ["REPLCONF", "listening-port", String(controller.announcedPort)]]
        if let ip = controller.configuration.announceIP { words.append(["REPLCONF", "ip-address", ip]) }
        words.append(["REPLCONF", "capa", "eof", "capa", "psync2"])
        let (id, next) = controller.psyncArguments()
        var out = context.channel.allocator.buffer(capacity: 256)
        for w in words { out.writeBytes(ReplicationStream.encodeCommand(w.map { Array($0.utf8) })) }
        out.writeBytes(ReplicationStream.encodeCommand([Array("PSYNC".utf8), Array(id.utf8), Array(String(next).utf8)]))
        phase = .handshake(remaining: words.count)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        ackTask?.cancel()
        ackTask = nil
        controller.logger.info("replication: link to the primary closed")
        controller.linkDown(generation: generation)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        controller.logger.info("replication: link error: \(error)")
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        controller.noteIO(generation: generation)
        do {
            try advance(context: context)
        } catch {
            controller.logger.error("replication: \(error); dropping the link")
            phase = .failed
            context.close(promise: nil)
        }
        if buffer.readerIndex > 1 << 16 { buffer.discardReadBytes() }
    }

    private func readLine() -> String? {
        guard let view = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let length = view - buffer.readerIndex + 1
        guard var bytes = buffer.readBytes(length: length) else { return nil }
        // Byte by byte: in Swift "\r\n" is one Character.
        while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func advance(context: ChannelHandlerContext) throws(ReplicationError) {
        while controller.isCurrent(generation) {
            switch phase {
            case .failed:
                return
            case .handshake(let remaining):
                if remaining == 0 { phase = .psyncReply; continue }
                guard let line = readLine() else { return }
                if line.hasPrefix("-") && !line.hasPrefix("-NOAUTH") { throw .handshake("the primary answered '\(line)'") }
                phase = .handshake(remaining: remaining - 1)
            case .psyncReply:
                guard let line = readLine() else { return }
                let words = line.split(separator: " ").map(String.init)
                if words.first == "+FULLRESYNC", words.count == 3, let offset = Int64(words[2]) {
                    controller.setLinkState(.sync, generation: generation)
                    phase = .snapshotHeader(replicationID: words[1], offset: offset)
                } else if words.first == "+CONTINUE" {
                    controller.continuePartial(replicationID: words.count > 1 ? words[1] : nil, generation: generation)
                    startStreaming(context: context)
                } else if line.isEmpty {
                    continue  // a keep-alive newline
                } else {
                    throw .handshake("PSYNC answered '\(line.prefix(200))'")
                }
            case .snapshotHeader(let id, let offset):
                guard let line = readLine() else { return }
                if line.isEmpty { continue }
                guard line.hasPrefix("$"), let length = Int(line.dropFirst()), length >= 0 else {
                    throw .handshake("expected the snapshot's $<length>, got '\(line.prefix(100))'")
                }
                phase = .snapshotBody(replicationID: id, offset: offset, length: length)
            case .snapshotBody(let id, let offset, let length):
                // Newlines while a big snapshot arrives and loads: the primary hears no ACK
                // until it is loaded, and would drop this replica after repl-timeout.
                guard buffer.readableBytes >= length, let bytes = buffer.readBytes(length: length) else {
                    keepAlive(context: context, force: false)
                    return
                }
                try controller.loadSnapshot(bytes, replicationID: id, offset: offset, generation: generation) {
                    keepAlive(context: context, force: true)
                }
                startStreaming(context: context)
            case .streaming:
                guard buffer.readableBytes > 0 else { return }
                let result: Result<Int?, RESPParseError> = buffer.withUnsafeReadableBytes { raw in
                    do throws(RESPParseError) { return .success(try parser.parse(raw, into: &command)) } catch { return .failure(error) }
                }
                switch result {
                case .failure(let error): throw .malformedStream("\(error)")
                case .success(nil): return
                case .success(let n?):
                    let raw = buffer.readBytes(length: n) ?? []
                    if command.isEmpty { continue }
                    try controller.applyFromPrimary(command, raw: raw, generation: generation)
                    if command.count >= 2 && CommandExecutor.lowercasedName(command) == "replconf"
                        && command.string(1).lowercased() == "getack" {
                        sendAck(context: context)
                    }
                }
            }
        }
    }

    private func startStreaming(context: ChannelHandlerContext) {
        phase = .streaming
        controller.setLinkState(.connected, generation: generation)
        controller.logger.info("replication: in sync with the primary", metadata: ["offset": "\(controller.offset)"])
        sendAck(context: context)
        let interval = Int64(max(1, controller.configuration.ackIntervalMilliseconds))
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        ackTask = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(interval), delay: .milliseconds(interval)) { _ in
            bound.value.sendAck(context: boundContext.value)
        }
    }

    /// An empty line to the primary (Redis's `replicationSendNewlineToMaster`), at most every
    /// ack interval unless `force` (the snapshot loader already spaced its calls).
    private func keepAlive(context: ChannelHandlerContext, force: Bool) {
        let now = controller.clock.millisecondsSinceEpoch()
        guard force || now - lastKeepAliveMilliseconds >= Int64(max(1, controller.configuration.ackIntervalMilliseconds)) else { return }
        lastKeepAliveMilliseconds = now
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "\n")), promise: nil)
    }

    func sendAck(context: ChannelHandlerContext) {
        guard case .streaming = phase, context.channel.isActive else { return }
        let words = [Array("REPLCONF".utf8), Array("ACK".utf8), Array(String(controller.offset).utf8)]
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: ReplicationStream.encodeCommand(words))), promise: nil)
    }
}

extension Keyspace {
    /// Replaces every record with a snapshot's. The caller holds the command lock exclusively.
    /// `progress` runs every 256 records (the caller decides whether to send a keep-alive).
    func heldLoadSnapshot(_ snapshot: [UInt8], progress: () -> Void = {}) throws(ReplicationError) {
        do { try heldFlushAll() } catch { throw .engine(error) }
        var count = 0
        try ReplicationStream.records(of: snapshot) { (key, value) throws(EngineError) in
            try heldApply(.put(key: Array(key), value: Array(value)))
            count += 1
            if count & 255 == 0 { progress() }
        }
    }

    /// Applies a unit of the primary's stream. The caller holds the command lock exclusively,
    /// so no read sees part of a unit (a MULTI/EXEC block stays atomic on the replica too).
    func heldApplyReplicated(_ operations: [ReplicatedOperation]) throws(EngineError) {
        for op in operations { try heldApply(op) }
    }

    /// One mutation, keeping the tallies that commands keep on the primary: member and index
    /// records of sorted sets (`auxiliaryRecords`), keys with deadlines (`expiryCandidates`),
    /// and WATCH's version of the key (the exclusive command lock stands in for its stripe).
    private func heldApply(_ operation: ReplicatedOperation) throws(EngineError) {
        switch operation {
        case .flushAll:
            try heldFlushAll()
        case .put(let key, let value):
            try withEngine { (e) throws(EngineError) in
                try key.withBytes { (k) throws(EngineError) in
                    if key.first == Self.mainTag {
                        touch(UnsafeRawBufferPointer(rebasing: k[1...]))  // WATCH on a replica sees the change
                        let hasDeadline = value.withUnsafeBytes { Self.header(of: $0)?.expiresAt != nil }
                        if hasDeadline { expiryCandidates.insert(UnsafeRawBufferPointer(rebasing: k[1...])) }
                    } else if try e.get(k, { _ in true }) == nil {
                        auxiliaryRecords.add(1, ordering: .relaxed)
                    }
                    try value.withBytes { (v) throws(EngineError) in try e.put(k, v, options: .default) }
                }
            }
        case .delete(let key):
            try withEngine { (e) throws(EngineError) in
                try key.withBytes { (k) throws(EngineError) in
                    let existed = try e.delete(k, options: .default)
                    if key.first == Self.mainTag { touch(UnsafeRawBufferPointer(rebasing: k[1...])) }
                    if existed && key.first != Self.mainTag { auxiliaryRecords.subtract(1, ordering: .relaxed) }
                }
            }
        }
    }
}
