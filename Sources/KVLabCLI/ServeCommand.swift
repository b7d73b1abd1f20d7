// `kvlab serve`: a RESP (Redis protocol) server in front of any kvlab engine.

import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
@preconcurrency import Foundation
import KVCore
import KVEngines
import KVServer
import KVStorage
import Logging
import NIOCore
import RESP

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve an engine over the Redis protocol (RESP2/RESP3) to redis-cli, redis-benchmark and kvlab's driver.",
        discussion: """
        Binds to loopback by default; with --bind beyond loopback and no password, protected \
        mode refuses remote clients as Redis does. The password can come from --requirepass, \
        --requirepass-file or the KVLAB_REQUIREPASS environment variable. Strings, hashes and (on ordered engines) sorted sets are \
        stored in the engine as documented in KVServer's Keyspace. SIGINT or SIGTERM stops the \
        server: connections are closed and the engine is flushed and closed. Example:
          kvlab serve --engine hash --port 6380 --threads 2
          redis-benchmark -p 6380 -t set,get -n 100000 -q

        Durability (persistent engines with --db), with Redis's appendfsync names and meaning: \
        `always` replies after fsync (one fsync per read of pipelined commands); `everysec` (the \
        default) replies after the write reached the OS and fsyncs every second; `no` replies \
        after the write reached the OS and lets the OS write back. In every mode a killed server \
        loses no acknowledged write; a machine crash can lose up to a second (everysec) or more \
        (no). --appendfsync is refused for in-memory engines (nothing to fsync) and when it \
        contradicts --option durability=/sync-interval=. INFO persistence shows the mode.
          kvlab serve --engine lsm --db /tmp/kv --appendfsync always
        """
    )

    @OptionGroup var selection: EngineSelection

    @Option(help: "TCP port (0 picks a free one, printed on stdout).")
    var port: Int = 6379

    @Option(help: "Address to bind.")
    var bind: String = "127.0.0.1"

    @Option(help: ArgumentHelp("Password clients must give with AUTH or HELLO ... AUTH default P (visible to ps: prefer --requirepass-file or \(ServeCommand.passwordVariable)).", valueName: "password"))
    var requirepass: String?

    @Option(name: .customLong("requirepass-file"), help: ArgumentHelp("Read the password from the first line of this file.", valueName: "path"))
    var requirepassFile: String?

    @Option(name: .customLong("protected-mode"), help: ArgumentHelp("yes: with no password, refuse clients from beyond loopback with Redis's -DENIED reply (Redis's default); no: accept them.", valueName: "yes|no"))
    var protectedMode: String = "yes"

    @Option(name: .customLong("client-output-buffer-limit"), help: ArgumentHelp("Disconnect a client whose unsent replies reach <hard> bytes, or stay at <soft> or more for <soft-seconds> (0 = no limit; Redis's units: 256mb, 64kb...). Default 'normal 0 0 0' as Redis: replies are paced by the client's reading, so a client that never reads holds at most one reply.", valueName: "normal hard soft seconds"))
    var clientOutputBufferLimit: String = "normal 0 0 0"

    @Option(help: "Event loop threads; the default shown is this machine's core count.")
    var threads: Int = System.coreCount

    @Option(help: "Most clients connected at once.")
    var maxclients: Int = 10000

    @Option(help: "Disconnect clients idle for this many seconds (0 = never).")
    var timeout: Int = 0

    @Option(name: .customLong("proto-max-bulk-len"), help: "Largest bulk string accepted, in bytes.")
    var protoMaxBulkLength: Int = 512 * 1024 * 1024

    @Option(name: .customLong("client-query-buffer-limit"), help: "Most unparsed bytes buffered per client.")
    var queryBufferLimit: Int = 1024 * 1024 * 1024

    @Option(help: ArgumentHelp("When acknowledged writes are fsynced: always, everysec or no (Redis's names; persistent engines with --db; default everysec).", valueName: "mode"))
    var appendfsync: AppendFsync?

    @Flag(name: .customLong("disk-faults"), help: "Open the persistent engine (lsm or btree, with --db) through a switchable fault-injecting file layer; DEBUG DISKFAULT none|fsync-error|disk-full then fails its fsyncs or fills its disk.")
    var diskFaults = false

    @OptionGroup(title: "Replication") var replication: ReplicationOptions

    /// The environment variable `kvlab serve` reads the password from when no option gives one.
    static let passwordVariable = "KVLAB_REQUIREPASS"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port): expected 0...65535") }
        guard requirepass == nil || requirepassFile == nil else {
            throw ValidationError("--requirepass and --requirepass-file: give the password one way only")
        }
        guard ["yes", "no"].contains(protectedMode.lowercased()) else { throw ValidationError("--protected-mode \(protectedMode): expected yes or no") }
        do { _ = try OutputBufferLimit(parsing: clientOutputBufferLimit) } catch { throw ValidationError("--client-output-buffer-limit: \(error)") }
        guard threads >= 1 else { throw ValidationError("--threads \(threads): expected at least 1") }
        guard maxclients >= 1 else { throw ValidationError("--maxclients \(maxclients): expected at least 1") }
        guard timeout >= 0 else { throw ValidationError("--timeout \(timeout): expected seconds >= 0") }
        _ = try replication.configuration()
    }

    /// The password: --requirepass, else the first line of --requirepass-file, else
    /// $KVLAB_REQUIREPASS; nil when none is given (an empty one counts as none, as in Redis).
    func resolvePassword() throws -> String? {
        if let requirepass { return requirepass.isEmpty ? nil : requirepass }
        if let requirepassFile {
            guard let data = FileManager.default.contents(atPath: requirepassFile) else {
                throw CLIError(message: "kvlab serve: --requirepass-file \(requirepassFile): cannot read the file", code: 2)
            }
            let text = String(decoding: data, as: UTF8.self)
            let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let password = firstLine.hasSuffix("\r") ? String(firstLine.dropLast()) : firstLine
            guard !password.isEmpty else {
                throw CLIError(message: "kvlab serve: --requirepass-file \(requirepassFile): the first line is empty; expected the password", code: 2)
            }
            return password
        }
        if let value = ProcessInfo.processInfo.environment[Self.passwordVariable], !value.isEmpty { return value }
        return nil
    }

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let logger = Logger(label: "kvlab.server")
        let selection = self.selection
        var options: EngineOptions
        let durability: ServerDurability?
        do {
            options = try selection.engineOptions()
            let persistent = (StandardEngines.registry.descriptor(named: selection.engine)?.capabilities.contains(.persistent) ?? false)
                && !(options["directory"] ?? "").isEmpty
            durability = try ServerDurability.resolve(appendfsync: appendfsync, options: &options, engine: selection.engine, persistent: persistent)
            if diskFaults && !(persistent && StandardEngines.acceptsFileSystem(selection.engine)) {
                throw CLIError(message: "kvlab serve: --disk-faults needs a persistent engine with files: --engine lsm or btree with --db DIR (got --engine \(selection.engine)\((options["directory"] ?? "").isEmpty ? " without --db" : ""))", code: 2)
            }
        } catch let error as CLIError {
            throw error
        } catch let error as PersistenceError {
            throw CLIError(message: "kvlab serve: \(error)", code: 2)
        } catch {
            throw CLIError(message: "kvlab serve: \(error)", code: 2)
        }
        let engineOptions = options
        let engineName = selection.engine
        let faultFileSystem = diskFaults ? SwitchableFaultFileSystem(wrapping: PosixFileSystem()) : nil
        let keyspace: Keyspace
        do {
            if let faultFileSystem {
                keyspace = try Keyspace(factory: { () throws(EngineError) in
                    try StandardEngines.open(engineName, options: engineOptions, fileSystem: faultFileSystem)
                })
            } else {
                keyspace = try Keyspace(factory: { () throws(EngineError) in try StandardEngines.registry.open(engineName, options: engineOptions) })
            }
        } catch {
            throw CLIError(message: "kvlab serve: \(error)", code: 2)
        }
        let password = try resolvePassword()
        var limits = RESPLimits()
        limits.maxBulkLength = protoMaxBulkLength
        limits.maxQueryBuffer = queryBufferLimit
        var configuration = ServerConfiguration(host: bind, port: port, threads: threads, requirePassword: password,
                                                maxClients: maxclients, idleTimeoutSeconds: timeout, limits: limits,
                                                engineName: selection.engine, protectedMode: protectedMode.lowercased() == "yes",
                                                outputBufferLimit: try OutputBufferLimit(parsing: clientOutputBufferLimit))
        configuration.durability = durability
        if let faults = faultFileSystem?.faults {
            configuration.diskFaults = ServerDiskFaults(current: { faults.mode.description }, set: { name in
                guard let mode = DiskFaultMode(name: name) else { return false }
                faults.mode = mode
                return true
            })
        }
        configuration.replication = try replication.configuration()
        let server = RESPServer(executor: CommandExecutor(keyspace: keyspace, configuration: configuration, logger: logger), logger: logger)
        let bound: Int
        do { bound = try server.start() } catch {
            try? keyspace.close()
            throw CLIError(message: "kvlab serve: cannot listen on \(bind):\(port): \(error)", code: 1)
        }
        Console.output("kvlab serve: listening on \(bind):\(bound) (engine \(selection.engine), \(threads) threads)")
        Console.output("kvlab serve: " + (durability?.summary ?? "in-memory engine: nothing is persisted"))
        if let primary = configuration.replication.replicaOf { Console.output("kvlab serve: replica of \(primary)") }

        // SIGINT/SIGTERM: close the listener; the main thread then shuts everything down.
        // A parent (a test runner, a supervisor) may have left these blocked in our mask.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "kvlab.serve.signals")
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                logger.info("signal received; shutting down", metadata: ["signal": "\(sig)"])
                server.closeListener()
            }
            source.resume()
            sources.append(source)
        }
        server.waitUntilClosed()
        do { try server.shutdown() } catch {
            throw CLIError(message: "kvlab serve: shutdown: \(error)", code: 1)
        }
        _ = sources
        Console.output("kvlab serve: stopped")
    }
}

extension AppendFsync: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}
