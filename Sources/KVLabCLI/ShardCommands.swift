// `kvlab ring` (balance and movement of shard routers over a workload's keys) and `kvlab reshard` (grow or shrink a running ring).

import ArgumentParser
import Foundation
import KVClient
import Sharding
import Workload

struct RingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ring",
        abstract: "Compare shard routers: load balance and keys moved on a join or leave, over a workload's keys.",
        discussion: """
        Places the workload's load keys (insertstart ..< insertstart+insertcount, named as the \
        workload names them) on N = --nodes nodes with each router: a consistent-hash ring at \
        several virtual-node counts and hashes, jump consistent hash, rendezvous hashing and \
        Redis Cluster's slots. For each N it reports the most and least loaded node over the \
        mean, the coefficient of variation, and the fraction of keys that move when a node joins \
        (ideal 1/(N+1)) or the last one leaves (ideal 1/N). Example:
          kvlab ring -P workloads/workloada -p recordcount=1000000 --nodes 3...16 --out results/ring
        writes ring.txt, ring.json and ring.html (SVG charts) into results/ring.
        """
    )

    @Option(name: .customShort("P"), help: ArgumentHelp("A workload property file; repeatable.", valueName: "file"))
    var propertyFiles: [String] = []

    @Option(name: .customShort("p"), help: ArgumentHelp("A property, overriding the files; repeatable.", valueName: "key=value"))
    var properties: [String] = []

    @Option(help: ArgumentHelp("Node counts, as A...B.", valueName: "range"))
    var nodes: String = "3...16"

    @Option(help: ArgumentHelp("Routers to compare, comma-separated: ring:HASH:VNODES, jump, rendezvous, slots (default: the standard set).", valueName: "list"))
    var routers: String?

    @Option(help: ArgumentHelp("Directory for ring.txt, ring.json and ring.html.", valueName: "dir"))
    var out: String?

    func nodeRange() throws -> ClosedRange<Int> {
        let parts = nodes.components(separatedBy: "...")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 2, b >= a, b <= 1024 else {
            throw ValidationError("--nodes \(nodes): expected A...B with 2 ≤ A ≤ B ≤ 1024")
        }
        return a...b
    }

    func routerList() throws -> [RouterOptions] {
        guard let routers else { return PlacementAnalysis.defaultRouters }
        return try routers.split(separator: ",").map { item in
            let parts = item.split(separator: ":").map(String.init)
            guard let kind = RouterKind(rawValue: parts[0]) else {
                throw ValidationError("--routers: '\(item)': expected ring:HASH:VNODES, jump[:HASH], rendezvous[:HASH] or slots")
            }
            var options = RouterOptions(kind: kind)
            if parts.count > 1 {
                guard let h = KeyHashFunction(rawValue: parts[1]) else { throw ValidationError("--routers: '\(item)': hash '\(parts[1])' is not xxh64, murmur3 or fnv1a") }
                options.hash = h
            }
            if parts.count > 2 {
                guard let v = Int(parts[2]), (1...65536).contains(v) else { throw ValidationError("--routers: '\(item)': vnodes '\(parts[2])' is not in 1...65536") }
                options.virtualNodes = v
            }
            return options
        }
    }

    func validate() throws {
        _ = try nodeRange()
        _ = try routerList()
    }

    func run() throws {
        var merged = WorkloadProperties()
        let configuration: CoreWorkloadConfiguration
        do {
            for file in propertyFiles { try merged.load(file: file) }
            for property in properties { try merged.applyOverride(property) }
            configuration = try CoreWorkloadConfiguration(properties: merged)
        } catch {
            throw CLIError(message: "kvlab ring: \(error)", code: 2)
        }
        let namer = KeyNamer(hashed: configuration.insertOrder == .hashed, zeroPadding: configuration.zeroPadding)
        let keys = (configuration.insertStart..<configuration.loadEnd).map { namer.bytes($0) }
        let source = "\(keys.count) YCSB keys (\(configuration.insertOrder == .hashed ? "hashed" : "ordered") insert order, records \(configuration.insertStart)..<\(configuration.loadEnd))"
        Console.error("kvlab ring: placing \(source) on N = \(nodes) nodes")
        let rows: [PlacementRow]
        do { rows = try PlacementAnalysis.analyze(keys: keys, nodeCounts: try nodeRange(), routers: try routerList()) } catch {
            throw CLIError(message: "kvlab ring: \(error)", code: 2)
        }
        let text = PlacementReport.text(rows)
        Console.output(text, terminator: "")
        if let out {
            let dir = URL(fileURLWithPath: out)
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try Data(("# \(source)\n" + text).utf8).write(to: dir.appendingPathComponent("ring.txt"))
                try PlacementReport.json(rows, source: source).write(to: dir.appendingPathComponent("ring.json"))
                try Data(PlacementReport.html(rows, title: "kvlab ring: shard routers compared", source: source).utf8)
                    .write(to: dir.appendingPathComponent("ring.html"))
            } catch {
                throw CLIError(message: "kvlab ring: cannot write into '\(out)': \(error.localizedDescription)")
            }
            Console.error("kvlab ring: wrote ring.txt, ring.json, ring.html in \(out)")
        }
    }
}

struct ReshardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reshard",
        abstract: "Move a running client-sharded ring (ring://...&topology=FILE) to a new node list, copying the keys that move.",
        discussion: """
        Clients route by a ring:// URL with topology=FILE and re-read FILE every 0.05 s. This \
        command writes FILE through three phases — migrating (reads old owner, writes both \
        owners), switching (reads new owner, writes both), stable (new list) — waiting --grace \
        seconds after each, copies every moving string key from its old owner to its new owner \
        with SET NX between the first two (a newer client write is never overwritten), and \
        finally deletes moved keys from their old owners. Example (add a fourth node):
          kvlab reshard --from 'ring://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003?topology=ring.topo' \\
                        --to 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004
        The old nodes must answer SCAN (kvlab serve needs an ordered engine: --engine skiplist).
        """
    )

    @Option(help: ArgumentHelp("The ring as clients know it: its nodes, router options and topology file.", valueName: "ring-url"))
    var from: String

    @Option(help: ArgumentHelp("The new node list, host:port,host:port...", valueName: "nodes"))
    var to: String

    @Option(help: ArgumentHelp("Seconds to wait after each phase change.", valueName: "seconds"))
    var grace: Double = 1

    @Flag(name: .customLong("no-cleanup"), help: "Keep moved keys on their old owners.")
    var noCleanup = false

    @Option(help: ArgumentHelp("Also write the report as JSON.", valueName: "file"))
    var json: String?

    func parsed() throws -> (RedisTarget, [RedisEndpoint]) {
        let target: RedisTarget
        do { target = try RedisTarget(url: from) } catch { throw ValidationError("--from: \(error)") }
        guard let shard = target.shard else { throw ValidationError("--from \(from): expected a ring:// URL") }
        guard shard.topologyFile != nil else { throw ValidationError("--from \(from): expected a topology=FILE option (the file clients follow)") }
        guard shard.weights == nil else { throw ValidationError("--from \(from): weights are not supported by reshard") }
        let list: RedisTarget
        do { list = try RedisTarget(url: "ring://" + to) } catch { throw ValidationError("--to: \(error)") }
        return (target, list.endpoints)
    }

    func validate() throws {
        _ = try parsed()
        guard grace.isFinite && grace >= 0 && grace <= 3600 else { throw ValidationError("--grace \(grace): expected 0...3600 seconds") }
    }

    func run() throws {
        let (target, newNodes) = try parsed()
        let configuration = ReshardConfiguration(from: target.endpoints, to: newNodes, router: target.shard!.router,
                                                 topologyFile: target.shard!.topologyFile!, password: target.password,
                                                 graceSeconds: grace, cleanup: !noCleanup)
        let report: ReshardReport
        do {
            report = try RingResharder.run(configuration) { event in
                switch event {
                case let .phase(phase, epoch): Console.error("kvlab reshard: \(String(format: "%.3f", Date().timeIntervalSince1970)) phase \(phase.rawValue) (epoch \(epoch))")
                case let .copied(node, keys): Console.error("kvlab reshard: copied \(keys) keys from \(node)")
                case let .cleaned(node, keys): Console.error("kvlab reshard: deleted \(keys) moved keys from \(node)")
                }
            }
        } catch {
            throw CLIError(message: "kvlab reshard: \(error)")
        }
        Console.output("scanned \(report.scannedKeys) keys, \(report.movingKeys) moving: copied \(report.copiedKeys), already on the new owner \(report.alreadyPresentKeys), vanished \(report.vanishedKeys), skipped (not strings) \(report.skippedKeys); deleted from old owners \(report.deletedKeys); epoch \(report.finalEpoch)")
        if report.skippedKeys > 0 {
            Console.error("kvlab reshard: \(report.skippedKeys) keys are not strings and were not copied (use --mapping string); old owners were not cleaned")
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do { try encoder.encode(report).write(to: URL(fileURLWithPath: json)) } catch {
                throw CLIError(message: "kvlab reshard: cannot write '\(json)': \(error.localizedDescription)")
            }
        }
    }
}
