// appendfsync on the server, without sockets: the mode mapping, the refusals, and the fsync barrier that covers a read of pipelined writes.

import KVClient
import KVCore
import KVEngines
@testable import KVServer
import NIOCore
import RESP
import Synchronization
import Testing

/// An engine that forwards to a skiplist and counts `flush()` calls; `failFlush` makes them throw.
final class FlushCountingEngine: KeyValueEngine {
    let inner: any KeyValueEngine
    let flushes = Atomic<Int>(0)
    let failFlush: Bool
    init(failFlush: Bool = false) throws {
        inner = try StandardEngines.registry.open("skiplist")
        self.failFlush = failFlush
    }
    var name: String { "flush-counting" }
    var capabilities: EngineCapabilities { inner.capabilities }
    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? { try inner.get(key, body) }
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) { try inner.put(key, value, options: options) }
    func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool { try inner.delete(key, options: options) }
    func scan(from start: UnsafeRawBufferPointer, limit: Int, _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) { try inner.scan(from: start, limit: limit, visit) }
    func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) { try inner.write(batch, options: options) }
    func flush() throws(EngineError) {
        flushes.add(1, ordering: .relaxed)
        if failFlush { throw .io(path: "/test/log", operation: "fsync", errno: 5, message: "Input/output error") }
    }
    func close() throws(EngineError) { try inner.close() }
    var count: Int? { inner.count }
    func checkInvariants() throws(EngineError) { try inner.checkInvariants() }
}

@Suite("appendfsync: mapping, refusals and the fsync barrier")
struct PersistenceTests {
    func resolve(_ mode: AppendFsync?, _ options: [String: String] = [:], persistent: Bool = true) throws(PersistenceError) -> (ServerDurability?, EngineOptions) {
        var o = EngineOptions(options)
        let d = try ServerDurability.resolve(appendfsync: mode, options: &o, engine: "lsm", persistent: persistent)
        return (d, o)
    }

    @Test("always, everysec and no map onto engine policies that reply only after write(2); everysec is the default")
    func modesMapOntoPolicies() throws {
        let (always, alwaysOptions) = try resolve(.always)
        #expect(always == ServerDurability(appendfsync: .always, enginePolicy: .periodic(intervalMilliseconds: 1000), fsyncBeforeReply: true))
        #expect(alwaysOptions["durability"] == "periodic")
        let (everysec, everysecOptions) = try resolve(.everysec)
        #expect(everysec == ServerDurability(appendfsync: .everysec, enginePolicy: .periodic(intervalMilliseconds: 1000), fsyncBeforeReply: false))
        #expect(everysecOptions["sync-interval"] == "1000")
        let (no, noOptions) = try resolve(.no)
        #expect(no?.enginePolicy == .periodic(intervalMilliseconds: AppendFsync.osDecidesIntervalMilliseconds))
        #expect(noOptions["durability"] == "periodic", "appendfsync no must not be the buffered policy")
        let (byDefault, _) = try resolve(nil)
        #expect(byDefault == everysec)
        // An engine option alone is honoured and named in Redis's terms when it has a name.
        let (explicit, explicitOptions) = try resolve(nil, ["durability": "always"])
        #expect(explicit == ServerDurability(appendfsync: .always, enginePolicy: .always, fsyncBeforeReply: false))
        #expect(explicitOptions["durability"] == "always")
        let (agreeing, _) = try resolve(.everysec, ["durability": "periodic", "sync-interval": "1000"])
        #expect(agreeing == everysec)
        #expect(try resolve(nil, persistent: false).0 == nil)
    }

    @Test("a contradicting durability option, a different sync interval, and an in-memory engine are refused, naming both sides")
    func contradictionsAreRefused() {
        #expect(throws: PersistenceError.contradictsEngineOption(appendfsync: .always, enginePolicy: .buffered)) { try resolve(.always, ["durability": "buffered"]) }
        #expect(throws: PersistenceError.contradictsEngineOption(appendfsync: .everysec, enginePolicy: .periodic(intervalMilliseconds: 50))) {
            try resolve(.everysec, ["sync-interval": "50"])
        }
        #expect(throws: PersistenceError.inMemoryEngine(engine: "lsm", appendfsync: .no)) { try resolve(.no, persistent: false) }
        let message = PersistenceError.contradictsEngineOption(appendfsync: .no, enginePolicy: .always).description
        #expect(message.contains("--appendfsync no") && message.contains("durability=always"), "\(message)")
    }

    func executor(engine: FlushCountingEngine, durability: ServerDurability?) throws -> CommandExecutor {
        let keyspace = try Keyspace(factory: { () throws(EngineError) in engine })
        var configuration = ServerConfiguration(port: 0)
        configuration.durability = durability
        return CommandExecutor(keyspace: keyspace, configuration: configuration, logger: quietLogger)
    }

    /// Runs `commands` as one read, then the barrier, and returns the reply bytes as text.
    func read(_ executor: CommandExecutor, _ state: inout ConnectionState, _ commands: [[String]]) -> String {
        var reply = Reply(buffer: ByteBufferAllocator().buffer(capacity: 256))
        for c in commands { executor.execute(RESPCommand(c), state: &state, reply: &reply) }
        executor.completeWrites(state: &state, reply: &reply)
        return reply.buffer.readString(length: reply.buffer.readableBytes) ?? ""
    }

    @Test("under always, a read of three pipelined SETs costs one flush before the replies; a read of GETs costs none")
    func oneBarrierPerRead() throws {
        let engine = try FlushCountingEngine()
        let durability = try #require(try resolve(.always).0)
        let executor = try executor(engine: engine, durability: durability)
        var state = executor.makeConnectionState()
        let replies = read(executor, &state, [["SET", "a", "1"], ["SET", "b", "2"], ["GET", "a"], ["INCR", "n"]])
        #expect(replies == "+OK\r\n+OK\r\n$1\r\n1\r\n:1\r\n")
        #expect(engine.flushes.load(ordering: .relaxed) == 1)
        _ = read(executor, &state, [["GET", "a"], ["GET", "b"]])
        #expect(engine.flushes.load(ordering: .relaxed) == 1)
        let info = executor.info(sections: ["persistence"], state: state)
        #expect(info.contains("kvlab_fsync_barriers:1\r\n") && info.contains("kvlab_fsync_barrier_write_commands:3\r\n"), "\(info)")
        #expect(info.contains("aof_enabled:1\r\n") && info.contains("kvlab_appendfsync:always\r\n") && info.contains("aof_last_write_status:ok\r\n"), "\(info)")
    }

    @Test("under everysec the server adds no fsync of its own (writes reached the OS before their replies)")
    func everysecAddsNoBarrier() throws {
        let engine = try FlushCountingEngine()
        let executor = try executor(engine: engine, durability: try resolve(.everysec).0)
        var state = executor.makeConnectionState()
        _ = read(executor, &state, [["SET", "a", "1"], ["SET", "b", "2"]])
        #expect(engine.flushes.load(ordering: .relaxed) == 0)
        let info = executor.info(sections: ["persistence"], state: state)
        #expect(info.contains("kvlab_appendfsync:everysec\r\n") && info.contains("kvlab_sync_interval_ms:1000\r\n"), "\(info)")
    }

    @Test("a failed fsync barrier replaces the read's replies with an error, closes the client, and INFO says aof_last_write_status:err")
    func failedBarrierIsNotAcknowledged() throws {
        let engine = try FlushCountingEngine(failFlush: true)
        let executor = try executor(engine: engine, durability: try resolve(.always).0)
        var state = executor.makeConnectionState()
        let replies = read(executor, &state, [["SET", "a", "1"], ["SET", "b", "2"]])
        #expect(replies.hasPrefix("-IOERR fsync failed") && !replies.contains("+OK"), "\(replies)")
        #expect(state.shouldClose)
        #expect(executor.info(sections: ["persistence"], state: state).contains("aof_last_write_status:err\r\n"))
    }

    @Test("INFO persistence on an in-memory engine says aof_enabled:0, and the default INFO includes the section")
    func inMemoryInfo() throws {
        let executor = try executor(engine: try FlushCountingEngine(), durability: nil)
        let state = executor.makeConnectionState()
        let info = executor.info(sections: [], state: state)
        #expect(info.contains("# Persistence\r\nloading:0\r\n") && info.contains("aof_enabled:0\r\n"), "\(info)")
    }

    @Test("over a socket under always, several connections' pipelined SETs get their replies after an fsync that covers every one of them")
    func eventLoopBarrierCoversAllWrites() throws {
        let engine = try FlushCountingEngine()
        let server = RESPServer(executor: try executor(engine: engine, durability: try resolve(.always).0), logger: quietLogger)
        try server.start()
        defer { try? server.shutdown() }
        let connections = try (0..<4).map { _ in try RESPConnection(endpoint: RedisEndpoint(host: "127.0.0.1", port: server.port), timeoutSeconds: 10) }
        defer { connections.forEach { $0.close() } }
        // Every connection sends 25 SETs and a GET before reading any reply.
        for (c, connection) in connections.enumerated() {
            for i in 0..<25 { connection.append(["SET", "k\(c)-\(i)", "v\(i)"]) }
            connection.append(["GET", "k\(c)-24"])
            try connection.flush()
        }
        for connection in connections {
            for _ in 0..<25 { #expect(try connection.readReply() == .simpleString("OK")) }
            #expect(try connection.readReply() == .bulkString(Array("v24".utf8)))
        }
        let p = server.executor.persistence
        #expect(p.barrierWriteCommands.load(ordering: .relaxed) == 100, "every SET must be covered by a barrier before its reply")
        #expect(engine.flushes.load(ordering: .relaxed) >= 1)
        #expect(engine.flushes.load(ordering: .relaxed) == p.barriers.load(ordering: .relaxed))
    }
}
