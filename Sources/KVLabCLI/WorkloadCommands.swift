// `kvlab load` and `kvlab run`: YCSB's load and transaction phases against an in-process engine or a server.

import ArgumentParser
import Driver
import KVClient
import Foundation
import History
import KVCore
import KVEngines
import KVMemory
import Measurement
import Workload

/// The arguments YCSB's client takes, spelled as YCSB spells them.
struct YCSBArguments: ParsableArguments {
    @Option(name: .customShort("P"), help: ArgumentHelp("A workload property file; repeatable, later files win.", valueName: "file"))
    var propertyFiles: [String] = []

    @Option(name: .customShort("p"), help: ArgumentHelp("A property, overriding the files; repeatable.", valueName: "key=value"))
    var properties: [String] = []

    @Option(name: .customLong("threads", withSingleDash: true), help: "Client threads (threadcount).")
    var threads: Int?

    @Option(name: .customLong("target", withSingleDash: true), help: "Target total operations per second (target); with it, Intended-* latencies are reported too.")
    var target: Double?

    @Flag(name: .customShort("s"), help: "Print YCSB status lines on stderr every status.interval seconds.")
    var status = false

    @Option(name: .customShort("l"), help: ArgumentHelp("A label printed at the start of status lines.", valueName: "label"))
    var label: String?

    @Option(name: .customLong("export"), parsing: .upToNextOption,
            help: ArgumentHelp("Also write the result as a JSON document: --export json FILE.", valueName: "json FILE"))
    var export: [String] = []

    @Option(name: .customLong("history"),
            help: ArgumentHelp("Record every operation (and, for run, the load it does first) as a kvlab JSON Lines history for `kvlab check`.", valueName: "file"))
    var history: String?

    @Flag(name: .customLong("history-append"),
          help: "With --history: append to that file's history (e.g. what `kvlab load --history` recorded against the same server), numbering processes after its highest.")
    var historyAppend = false

    @Option(name: .customLong("clock"), help: ArgumentHelp(
        "What times each operation: tsc (the CPU's time-stamp counter, calibrated against CLOCK_MONOTONIC; only where the kernel's clocksource is tsc and the CPU has constant_tsc, nonstop_tsc and tsc_known_freq), monotonic (clock_gettime(CLOCK_MONOTONIC), the clock before tsc), or auto (tsc where it is reliable, else monotonic).",
        valueName: "auto|tsc|monotonic"))
    var clock: String = DriverClockChoice.auto.rawValue

    func validate() throws {
        guard DriverClockChoice(rawValue: clock) != nil else {
            throw ValidationError("--clock \(clock): expected auto, tsc or monotonic")
        }
        if !export.isEmpty && (export.count != 2 || export[0] != "json") {
            throw ValidationError("--export takes a format and a file: --export json FILE (got '\(export.joined(separator: " "))')")
        }
        if let threads, threads < 1 { throw ValidationError("-threads \(threads): expected at least 1 thread") }
        if let target, target < 0 { throw ValidationError("-target \(target): expected operations per second >= 0") }
    }

    var exportPath: String? { export.count == 2 ? export[1] : nil }

    /// The clock `--clock` names, calibrated if it is the time-stamp counter.
    func makeClock(phase: String) throws -> any MonotonicClock {
        do { return try (DriverClockChoice(rawValue: clock) ?? .auto).makeClock() } catch {
            throw CLIError(message: "kvlab \(phase): --clock \(clock): \(error)", code: 2)
        }
    }

    /// The effective properties: -P files in order, then -p, then flags.
    func loadProperties() throws(WorkloadError) -> WorkloadProperties {
        var merged = WorkloadProperties()
        for file in propertyFiles { try merged.load(file: file) }
        for property in properties { try merged.applyOverride(property) }
        if let threads { merged.applyFlag("-threads", property: "threadcount", value: String(threads)) }
        if let target { merged.applyFlag("-target", property: "target", value: String(target)) }
        if status { merged.applyFlag("-s", property: "status", value: "true") }
        if let label { merged.applyFlag("-l", property: "label", value: label) }
        return merged
    }
}

/// Where the workload runs when not on an in-process engine: a Redis-protocol server.
///
/// The URL option is `--server`, not `--target`: YCSB's `-target N` (the rate) sits beside it,
/// and one dash more or less must not turn a rate into a URL. `--target URL`, the old spelling,
/// is still accepted (hidden from the help) and names `--server` when it is given something
/// that is not a URL.
struct NetworkTargetOptions: ParsableArguments {
    @Option(name: .customLong("server"), help: ArgumentHelp(
        "Run against a server instead of an in-process engine: redis://[:password@]host:port, redis-cluster://host:port[,host:port...], sentinel://host:port[,host:port...]/NAME (the primary the sentinels name, asked again after a lost connection), memcached://host:port, etcd://host:port[,host:port...], or ring://host:port,host:port...[?router=ring|jump|rendezvous&hash=xxh64|murmur3|fnv1a&vnodes=160&topology=FILE] (client-side sharding over plain servers).",
        valueName: "url"))
    var server: String?

    @Option(name: .customLong("target"), help: .hidden)
    var legacyTarget: String?

    @Option(help: ArgumentHelp("With --server: operations each connection keeps in flight.", valueName: "n"))
    var pipeline: Int = 1

    @Option(help: ArgumentHelp("With --server: connections each thread drives, as memtier's --clients (total connections = threads × clients); with --pipeline P each keeps P in flight. On memcached they run event-driven (a connection's next request goes out when its own reply arrives); on RESP servers in lockstep batches.", valueName: "n"))
    var clients: Int = 1

    @Option(help: ArgumentHelp("With --server: record mapping, hash (YCSB's Redis binding) or string (one encoded value).", valueName: "mapping"))
    var mapping: String = "hash"

    @Flag(name: .customLong("no-scan-index"), help: "With --server and the hash mapping: do not maintain the _indices sorted set (no scans; for servers without sorted sets).")
    var noScanIndex = false

    @Option(name: .customLong("statuses"), help: ArgumentHelp(
        "With --server: kvlab (a missing record is NOT_FOUND) or ycsb (exactly YCSB's Redis binding: a read that returns nothing and a delete that removes nothing are ERROR, never NOT_FOUND).",
        valueName: "kvlab|ycsb"))
    var statuses: String = "kvlab"

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp("With --server: seconds a TCP connect may take.", valueName: "seconds"))
    var connectTimeout: Double = RESPConnection.defaultConnectTimeoutSeconds

    @Option(name: .customLong("timeout"), help: ArgumentHelp("With --server: seconds a reply may take; an operation waiting longer is an ERROR and its connection is reopened.", valueName: "seconds"))
    var timeout: Double = 30

    @Option(name: .customLong("max-backoff"), help: ArgumentHelp(
        "With --server: the longest wait between reconnection attempts (waits start at 10 ms and double while attempts fail; every operation that finds the server unreachable is an ERROR).",
        valueName: "seconds"))
    var maxBackoff: Double = 1

    @Option(name: .customLong("read-consistency"), help: ArgumentHelp(
        "With an etcd:// server: linearizable (etcd's default: a quorum confirms each read) or serializable (the member answers from its own state, possibly stale).",
        valueName: "linearizable|serializable"))
    var readConsistency: String = "linearizable"

    /// The server URL, under either spelling.
    var url: String? { server ?? legacyTarget }

    func validate() throws {
        guard pipeline >= 1 else { throw ValidationError("--pipeline \(pipeline): expected at least 1") }
        guard clients >= 1 else { throw ValidationError("--clients \(clients): expected at least 1") }
        guard RecordMapping(rawValue: mapping) != nil else { throw ValidationError("--mapping \(mapping): expected hash or string") }
        guard StatusMapping(rawValue: statuses) != nil else { throw ValidationError("--statuses \(statuses): expected kvlab or ycsb") }
        // Seconds become timevals, poll(2) milliseconds and backoff nanoseconds: infinite or
        // absurd values would trap converting, so they are refused here (1e6 s is 11.6 days).
        for (name, value) in [("--connect-timeout", connectTimeout), ("--timeout", timeout), ("--max-backoff", maxBackoff)] {
            guard value.isFinite && value <= 1e6 else { throw ValidationError("\(name) \(value): expected a finite number of seconds, at most 1000000") }
        }
        guard connectTimeout >= 0 else { throw ValidationError("--connect-timeout \(connectTimeout): expected seconds >= 0 (0 = the kernel's limit)") }
        guard timeout > 0 else { throw ValidationError("--timeout \(timeout): expected seconds > 0") }
        guard maxBackoff >= 0.01 else { throw ValidationError("--max-backoff \(maxBackoff): expected at least 0.01 seconds") }
        if server != nil && legacyTarget != nil {
            throw ValidationError("--server and --target (its old spelling) both given: give the server URL once, with --server")
        }
        if let legacyTarget, !legacyTarget.contains("://") {
            throw ValidationError("--target \(legacyTarget): --target is the old spelling of --server and takes a URL (redis://host:port); for YCSB's rate in operations per second write -target \(legacyTarget) with one dash")
        }
        if let url {
            let option = server != nil ? "--server" : "--target"
            do {
                if url.hasPrefix("memcached://") { _ = try MemcachedURL(url) }
                else if url.hasPrefix("etcd://") { _ = try EtcdURL(url) }
                else { _ = try RedisTarget(url: url) }
            } catch { throw ValidationError("\(option): \(error)") }
        }
        guard EtcdReadConsistency(rawValue: readConsistency) != nil else {
            throw ValidationError("--read-consistency \(readConsistency): expected linearizable or serializable")
        }
    }

    /// Timeouts and backoff of every connection.
    var connectionSettings: ConnectionSettings {
        ConnectionSettings(ioTimeoutSeconds: timeout, connectTimeoutSeconds: connectTimeout,
                           backoff: Backoff(initialSeconds: 0.01, maximumSeconds: maxBackoff))
    }
}

/// What `load` and `run` share: building the workload, opening the engine, running, reporting.
struct WorkloadPhaseRunner {
    var ycsb: YCSBArguments
    var selection: EngineSelection
    var phase: DriverPhase
    var skipLoad: Bool
    var network: NetworkTargetOptions? = nil
    /// `--client I/N`: this process's share of the load or run.
    var slice = ClientSliceOptions()
    /// Times every operation (`--clock`): the TSC clock or CLOCK_MONOTONIC.
    var clock: any MonotonicClock = SystemMonotonicClock()

    func execute() throws {
        let properties: WorkloadProperties
        let configuration: CoreWorkloadConfiguration
        do {
            properties = try slice.applied(to: ycsb.loadProperties(), phase: phase.rawValue)
            configuration = try CoreWorkloadConfiguration(properties: properties)
        } catch {
            throw CLIError(message: "kvlab \(phase.rawValue): \(error)", code: 2)
        }
        for warning in configuration.warnings { Console.error("warning: \(warning)") }

        if let network, let url = network.url {
            if ycsb.history != nil { try checkHistoryOnServer(url: url, network: network, configuration: configuration) }
            try executeOnServer(url: url, network: network, configuration: configuration, properties: properties)
            return
        }
        let engine: any KeyValueEngine
        do { engine = try selection.open() } catch { throw CLIError(message: "kvlab \(phase.rawValue): \(error)", code: 2) }
        defer { try? engine.close() }
        let target = InProcessTarget(engine: engine)
        var recorders: [HistoryRecorder] = []
        let earlier = try earlierHistory()
        var nextProcess = earlier.nextProcess

        if phase == .run && !skipLoad && !engine.capabilities.contains(.persistent) {
            // An in-memory engine starts empty in every process: load it first, unmeasured.
            Console.error("kvlab run: engine '\(engine.name)' keeps nothing between processes; loading \(configuration.insertCount) records first (not measured; --skip-load to skip)")
            var loader = try makeDriver(configuration, target: target, phase: .load, statusLines: false)
            // Preparation, not a measurement: as fast as possible, whatever -target says.
            var unthrottled = loader.configuration
            unthrottled.targetOpsPerSecond = 0
            unthrottled.recordsHistory = ycsb.history != nil
            unthrottled.historyFirstProcess = nextProcess
            loader = Driver(workload: loader.workload, target: target, configuration: unthrottled, clock: clock)
            let loaded = try runDriver(loader, metadata: metadata(configuration, properties: properties, phase: .load), quiet: true)
            recorders += loaded.historyRecorders
            nextProcess = (loaded.historyRecorders.map(\.highestProcess).max() ?? nextProcess + unthrottled.threads - 1) + 1
            Console.error("kvlab run: loaded \(loaded.result.operations) records in \(loaded.result.runtimeMilliseconds) ms")
        }

        let outcome = try runAndReport(configuration, properties: properties, target: target,
                                       recordHistory: ycsb.history != nil, firstProcess: nextProcess)
        recorders += outcome.historyRecorders
        try writeHistory(recorders, after: earlier.history)
        do { try engine.flush() } catch { throw CLIError(message: "kvlab \(phase.rawValue): \(error)") }
    }

    /// With --history-append: the history already in the file, and the first free process id.
    private func earlierHistory() throws -> (history: History?, nextProcess: Int) {
        guard let path = ycsb.history, ycsb.historyAppend, FileManager.default.fileExists(atPath: path) else { return (nil, 0) }
        do {
            let history = try JSONLinesFormat.read(String(contentsOfFile: path, encoding: .utf8))
            return (history, (history.events.map(\.process).max() ?? -1) + 1)
        } catch {
            throw CLIError(message: "kvlab \(phase.rawValue): --history-append: cannot read the history in '\(path)': \(error)", code: 2)
        }
    }

    /// Writes the recorded operations (after `earlier`'s events, with --history-append) to --history.
    private func writeHistory(_ recorders: [HistoryRecorder], after earlier: History?) throws {
        guard let path = ycsb.history else { return }
        let recorded = HistoryRecorder.history(merging: recorders)
        var history = earlier ?? History()
        history.events += recorded.events
        do { try Data(JSONLinesFormat.write(history).utf8).write(to: URL(fileURLWithPath: path)) } catch {
            throw CLIError(message: "kvlab \(phase.rawValue): cannot write history '\(path)': \(error.localizedDescription)")
        }
        let appended = earlier.map { " after the \($0.events.count / 2) already there" } ?? ""
        Console.error("kvlab \(phase.rawValue): recorded \(recorded.events.count / 2) operations in '\(path)'\(appended) (check it with: kvlab check \(path))")
    }

    /// What --history needs on a server: one operation per round trip on one connection per
    /// thread, and (Redis Cluster cannot route MULTI) whole-record writes under the hash mapping.
    private func checkHistoryOnServer(url: String, network: NetworkTargetOptions, configuration: CoreWorkloadConfiguration) throws {
        let name = "kvlab \(phase.rawValue)"
        if network.pipeline > 1 {
            throw CLIError(message: "\(name): --history with --pipeline \(network.pipeline): a recorded history needs each operation's own times; use --pipeline 1", code: 2)
        }
        if network.clients > 1 {
            throw CLIError(message: "\(name): --history with --clients \(network.clients): record with one connection per thread (raise -threads instead)", code: 2)
        }
        let cluster = (try? RedisTarget(url: url))?.cluster ?? false
        if cluster && network.mapping == RecordMapping.hash.rawValue && !configuration.writeAllFields
            && (configuration.updateProportion > 0 || configuration.readModifyWriteProportion > 0) {
            throw CLIError(message: "\(name): --history on Redis Cluster with the hash mapping needs whole-record updates (the record an HMSET of some fields leaves is read back in MULTI/EXEC, which a cluster cannot route): add -p writeallfields=true or use --mapping string", code: 2)
        }
    }

    /// The phase against a Redis-protocol server: the server keeps the records between `load` and `run`.
    private func executeOnServer(url: String, network: NetworkTargetOptions, configuration: CoreWorkloadConfiguration,
                                 properties: WorkloadProperties) throws {
        let fieldNames = (0..<configuration.fieldCount).map { Array(configuration.fieldName($0).utf8) }
        let target: any DriverTarget
        do {
            if url.hasPrefix("memcached://") {
                target = try MemcachedTarget(url: url, pipeline: network.pipeline, clientsPerThread: network.clients,
                                             fieldCount: configuration.fieldCount, connection: network.connectionSettings)
            } else if url.hasPrefix("etcd://") {
                target = try EtcdTarget(url: url, readConsistency: EtcdReadConsistency(rawValue: network.readConsistency) ?? .linearizable,
                                        fieldCount: configuration.fieldCount, connection: network.connectionSettings)
            } else {
            target = try RESPTarget(url: url, mapping: RecordMapping(rawValue: network.mapping) ?? .hash, pipeline: network.pipeline,
                                    clientsPerThread: network.clients,
                                    scanIndex: !network.noScanIndex, fieldNames: fieldNames,
                                    connection: network.connectionSettings,
                                    statusMapping: StatusMapping(rawValue: network.statuses) ?? .kvlab)
            }
        } catch {
            throw CLIError(message: "kvlab \(phase.rawValue): \(error)", code: 2)
        }
        let earlier = try earlierHistory()
        let outcome = try runAndReport(configuration, properties: properties, target: target, targetName: url,
                                       recordHistory: ycsb.history != nil, firstProcess: earlier.nextProcess)
        try writeHistory(outcome.historyRecorders, after: earlier.history)
    }

    /// Runs the phase, samples memory meanwhile, and prints and exports the result.
    private func runAndReport(_ configuration: CoreWorkloadConfiguration, properties: WorkloadProperties,
                              target: any DriverTarget, targetName: String? = nil,
                              recordHistory: Bool = false, firstProcess: Int = 0) throws -> DriverOutcome {
        let percentiles = configuration.percentiles
        var driver = try makeDriver(configuration, target: target, phase: phase, statusLines: configuration.status)
        if recordHistory {
            var settings = driver.configuration
            settings.recordsHistory = true
            settings.historyFirstProcess = firstProcess
            driver = Driver(workload: driver.workload, target: target, configuration: settings, clock: clock)
        }
        var meta = metadata(configuration, properties: properties, phase: phase)
        if let targetName {
            meta.engine = targetName.replacingOccurrences(of: #"//:[^@]*@"#, with: "//***@", options: .regularExpression)
        }
        let sampler = MemorySampler(intervalMilliseconds: 100)
        sampler.start()
        var outcome = try runDriver(driver, metadata: meta, quiet: false)
        let peaks = sampler.stop()
        outcome.result.metadata.memory = RunMetadata.MemoryPeaks(allocator: AllocatorStatistics.snapshot().allocator,
                                                                 peakAllocatedBytes: peaks.allocated, peakResidentBytes: peaks.resident)
        if outcome.stoppedByTimeLimit {
            Console.error("kvlab \(phase.rawValue): stopped at maxexecutiontime=\(configuration.maxExecutionTime) s")
        }
        let exporter = YCSBTextExporter(percentiles: percentiles)
        let text: String
        switch configuration.measurement.exporter {
        case .text: text = exporter.render(outcome.result)
        case .json: text = exporter.renderJSON(outcome.result, array: false)
        case .jsonArray: text = exporter.renderJSON(outcome.result, array: true)
        }
        if configuration.measurement.hdrFileOutput {
            do {
                for file in try HistogramLog.write(outcome.intervalLogs, prefix: configuration.measurement.hdrOutputPath,
                                                         startTime: outcome.result.metadata.startTime) {
                    Console.error("kvlab \(phase.rawValue): wrote \(file)")
                }
            } catch {
                throw CLIError(message: "kvlab \(phase.rawValue): hdrhistogram.fileoutput: \(error)")
            }
        }
        if let exportFile = configuration.exportFile {
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: exportFile)) } catch {
                throw CLIError(message: "kvlab \(phase.rawValue): cannot write exportfile '\(exportFile)': \(error.localizedDescription)")
            }
        } else {
            Console.output(text, terminator: "")
        }
        if let path = ycsb.exportPath {
            do { try ResultFile.write(outcome.result, to: URL(fileURLWithPath: path)) } catch {
                throw CLIError(message: "kvlab \(phase.rawValue): \(error)")
            }
        }
        return outcome
    }

    private func makeDriver(_ configuration: CoreWorkloadConfiguration, target: any DriverTarget, phase: DriverPhase,
                            statusLines: Bool) throws -> Driver {
        let workload: CoreWorkload
        do { workload = try CoreWorkload(configuration: configuration) } catch {
            throw CLIError(message: "kvlab \(phase.rawValue): \(error)", code: 2)
        }
        var settings = DriverConfiguration(phase: phase, workload: configuration)
        settings.status = statusLines
        let total = phase == .load ? configuration.insertCount : configuration.operationCount
        settings.threads = configuration.effectiveThreadCount(operations: total)
        return Driver(workload: workload, target: target, configuration: settings, clock: clock)
    }

    private func runDriver(_ driver: Driver, metadata: RunMetadata, quiet: Bool) throws -> DriverOutcome {
        do {
            return try driver.run(metadata: metadata) { event in
                guard !quiet else { return }
                switch event {
                case .status(let line): Console.error(line)
                case .warmupFinished(let operations): Console.error("kvlab: warm-up excluded \(operations) operations")
                }
            }
        } catch {
            let code: Int32 = if case .missingCapability = error { 2 } else { 1 }
            throw CLIError(message: "kvlab \(driver.configuration.phase.rawValue): \(error)", code: code)
        }
    }

    private func metadata(_ c: CoreWorkloadConfiguration, properties: WorkloadProperties, phase: DriverPhase) -> RunMetadata {
        var effective: [String: String] = [:]
        for (key, value) in properties.all { effective[key] = value.value }
        let options = (try? selection.parsedOptions().values) ?? [:]
        return RunMetadata(kvlabVersion: KVLabVersion.string, gitCommit: KVLabVersion.gitCommit, engine: selection.engine,
                           engineOptions: options, properties: effective, threads: c.threadCount,
                           target: c.target > 0 ? c.target : nil, startTime: Date(),
                           machineCores: ProcessInfo.processInfo.activeProcessorCount,
                           phase: phase == .load ? .load : .run)
    }
}

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Run a YCSB workload's load phase: insert its records.",
        discussion: """
        Inserts records insertstart ..< insertstart+insertcount (default: recordcount) with \
        threadcount threads, timing each INSERT, and prints YCSB's result lines. Example:
          kvlab load -P workloads/workloada -threads 2
        With an in-memory engine the records live only as long as this process; a server \
        (--server redis://host:port) keeps them for a later run.
        """
    )

    @OptionGroup var ycsb: YCSBArguments
    @OptionGroup var selection: EngineSelection
    @OptionGroup var network: NetworkTargetOptions
    @OptionGroup var slice: ClientSliceOptions

    func run() throws {
        try WorkloadPhaseRunner(ycsb: ycsb, selection: selection, phase: .load, skipLoad: true, network: network, slice: slice,
                               clock: ycsb.makeClock(phase: "load")).execute()
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a YCSB workload's transaction phase and print YCSB's results.",
        discussion: """
        Runs operationcount operations of the workload's mix (read, update, insert, scan, \
        read-modify-write, delete) with threadcount threads, optionally at -target operations \
        per second, and prints YCSB's result lines ([OVERALL], then per operation series). \
        An in-memory engine keeps nothing between processes, so run loads the records first \
        (unmeasured) unless --skip-load is given. Example:
          kvlab run -P workloads/workloada -p operationcount=100000 -threads 2 -s --export json a.json
        Against a Redis-protocol server (a lost connection fails its operations as ERROR and is \
        reopened with backoff; -target stays YCSB's rate):
          kvlab run -P workloads/workloada --server redis://127.0.0.1:6379 -threads 4 -target 20000
        """
    )

    @OptionGroup var ycsb: YCSBArguments
    @OptionGroup var selection: EngineSelection
    @OptionGroup var network: NetworkTargetOptions
    @OptionGroup var slice: ClientSliceOptions

    @Flag(name: .customLong("skip-load"), help: "Do not load an in-memory engine before the run.")
    var skipLoad = false

    @OptionGroup var saturation: SaturationOptions

    func run() throws {
        if saturation.slo != nil {
            try SaturationRunner(ycsb: ycsb, selection: selection, network: network, options: saturation).execute()
            return
        }
        try WorkloadPhaseRunner(ycsb: ycsb, selection: selection, phase: .run, skipLoad: skipLoad, network: network, slice: slice,
                               clock: ycsb.makeClock(phase: "run")).execute()
    }
}
