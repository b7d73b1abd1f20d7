// Helpers: executors over fresh engines, servers on free loopback ports, the Redis tools.

import Foundation
import KVCore
import KVEngines
import KVLabTestSupport
@testable import KVServer
import Logging
import RESP
import Testing

func makeExecutor(engine: String = "skiplist", clock: any WallClock = SystemWallClock(),
                  configuration: ServerConfiguration = ServerConfiguration(port: 0)) throws -> CommandExecutor {
    let keyspace = try Keyspace(factory: { () throws(EngineError) in try StandardEngines.registry.open(engine) })
    var c = configuration
    c.engineName = engine
    return CommandExecutor(keyspace: keyspace, configuration: c, clock: clock, logger: quietLogger)
}

/// Tests log nothing (the server's info lines would clutter the test output).
let quietLogger = Logger(label: "kvlab.server.test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A server on a free loopback port, stopped by `stop()`.
func startServer(engine: String = "skiplist", configuration: ServerConfiguration = ServerConfiguration(port: 0, threads: 2)) throws -> RESPServer {
    let server = RESPServer(executor: try makeExecutor(engine: engine, configuration: configuration), logger: quietLogger)
    try server.start()
    return server
}


struct ToolRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a tool to completion with a time limit.
func runTool(_ path: String, _ arguments: [String], input: String? = nil, timeout: Double = 60) throws -> ToolRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe(), inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try? inPipe.fileHandleForWriting.close()
    let deadline = Date().addingTimeInterval(timeout)
    let killer = Thread {
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
    }
    killer.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ToolRun(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}
