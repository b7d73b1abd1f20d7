// The server over persistent engines: FLUSHALL empties the files it would otherwise reopen, and
// DBSIZE counts what a restart brings back.

import Foundation
import KVCore
import KVEngines
@testable import KVServer
import RESP
import Testing

@Suite("Server over persistent engines")
struct PersistentKeyspaceTests {
    @Test("FLUSHALL empties a persistent engine, DBSIZE survives a restart, sorted sets included",
          arguments: ["lsm", "btree"])
    func flushAllAndRestart(engine: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-serve-\(engine)-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func open() throws -> (CommandExecutor, Keyspace) {
            let keyspace = try Keyspace(factory: { () throws(EngineError) in
                try StandardEngines.registry.open(engine, options: EngineOptions(["directory": dir]))
            })
            return (CommandExecutor(keyspace: keyspace, configuration: ServerConfiguration(port: 0), clock: SystemWallClock(),
                                    logger: quietLogger), keyspace)
        }
        var (executor, keyspace) = try open()
        var state = executor.makeConnectionState()
        for i in 0..<300 { #expect(executor.execute(["SET", "key\(i)", "value\(i)"], state: &state) == .simpleString("OK")) }
        #expect(executor.execute(["ZADD", "z", "1", "a", "2", "b"], state: &state) == .integer(2))
        #expect(executor.execute(["DBSIZE"], state: &state) == .integer(301))
        try keyspace.close()

        (executor, keyspace) = try open()
        state = executor.makeConnectionState()
        #expect(executor.execute(["DBSIZE"], state: &state) == .integer(301), "after a restart, the sorted set's own records must not count as keys")
        #expect(executor.execute(["GET", "key7"], state: &state) == .bulk("value7"))
        #expect(executor.execute(["FLUSHALL"], state: &state) == .simpleString("OK"))
        #expect(executor.execute(["DBSIZE"], state: &state) == .integer(0))
        #expect(executor.execute(["GET", "key7"], state: &state) == .null)
        try keyspace.close()

        (executor, keyspace) = try open()
        state = executor.makeConnectionState()
        #expect(executor.execute(["DBSIZE"], state: &state) == .integer(0), "FLUSHALL must reach the files")
        #expect(executor.execute(["GET", "key7"], state: &state) == .null)
        try keyspace.close()
    }
}
