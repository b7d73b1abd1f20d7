// `kvlab reshard` as a library: change a running ring's node list, copying the keys that move, while clients keep working.

import KVClient
import RESP

/// Moves a client-side-sharded ring (plain RESP servers, clients routing by a `ring://` URL with
/// `topology=FILE`) from one node list to another while clients run:
///
/// 1. **migrating** (epoch+1): clients read from each key's old owner and write to both its old
///    and new owner. The resharder waits `graceSeconds` so every client has re-read the file
///    (clients poll every 0.05 s) and finished the operations it had in flight.
/// 2. **copy**: every old node is walked with `SCAN`; each key whose owner changes is read
///    (`GET`) and written to its new owner with `SET key value NX`: a key that a client already
///    wrote there during step 1 holds a newer value and is left alone, so the copy never
///    overwrites a newer write with an older one.
/// 3. **switching** (epoch+2): clients read from the new owner, still writing both, so a client
///    that has not yet seen this phase (still reading the old owner) reads every write. Wait.
/// 4. **stable** (epoch+3) on the new list; wait; then delete the moved keys from their old
///    owners (with `cleanup`).
///
/// Limits, said plainly: only string values are copied (YCSB's `--mapping string`; hashes and
/// other types are counted in `skippedKeys` and left behind); a key deleted by a client after
/// the copy read it but before the copy wrote it comes back (no tombstones); expiry times are
/// not copied; and during a move a write is two round trips, one per owner, so a reader of the
/// other owner can see it a moment before or after — a window the checker can detect.
public struct ReshardConfiguration: Sendable {
    public var from: [RedisEndpoint]
    public var to: [RedisEndpoint]
    public var router: RouterOptions
    public var topologyFile: String
    public var password: String?
    /// Seconds to wait after each phase change (longer than clients' poll interval plus their slowest operation).
    public var graceSeconds: Double
    /// Keys per SCAN and per pipelined batch.
    public var batch: Int
    /// Delete moved keys from their old owners at the end.
    public var cleanup: Bool
    public var settings: ConnectionSettings

    public init(from: [RedisEndpoint], to: [RedisEndpoint], router: RouterOptions, topologyFile: String, password: String? = nil,
                graceSeconds: Double = 1, batch: Int = 500, cleanup: Bool = true, settings: ConnectionSettings = ConnectionSettings()) {
        self.from = from
        self.to = to
        self.router = router
        self.topologyFile = topologyFile
        self.password = password
        self.graceSeconds = graceSeconds
        self.batch = batch
        self.cleanup = cleanup
        self.settings = settings
    }
}

/// What a resharding did.
public struct ReshardReport: Sendable, Codable, Equatable {
    /// Keys found on the old nodes.
    public var scannedKeys = 0
    /// Keys whose owner changed.
    public var movingKeys = 0
    /// Moved keys written to their new owner by the copy.
    public var copiedKeys = 0
    /// Moved keys the new owner already had (written by a client during the move): not overwritten.
    public var alreadyPresentKeys = 0
    /// Moved keys gone before the copy read them (deleted or expired meanwhile).
    public var vanishedKeys = 0
    /// Moved keys not copied because they are not strings.
    public var skippedKeys = 0
    /// Moved keys deleted from their old owner after the switch.
    public var deletedKeys = 0
    /// Seconds from the start at which each phase was written, and the copy's duration.
    public var phaseSeconds: [String: Double] = [:]
    public var finalEpoch = 0
}

/// Progress, for the CLI to print.
public enum ReshardEvent: Sendable {
    case phase(RingPhase, epoch: Int)
    case copied(node: String, keys: Int)
    case cleaned(node: String, keys: Int)
}

/// Why a resharding stopped.
public enum ReshardError: Error, Sendable, CustomStringConvertible {
    case topology(RingTopologyError)
    case router(ShardRouterError)
    case node(String, RESPClientError)
    case reply(String, command: String, RESPValue)
    case inconsistent(String)

    public var description: String {
        switch self {
        case .topology(let e): "\(e)"
        case .router(let e): "\(e)"
        case let .node(node, e): "node \(node): \(e)"
        case let .reply(node, command, value): "node \(node): \(command) answered \(value): expected a reply of the documented shape"
        case .inconsistent(let m): m
        }
    }
}

public enum RingResharder {
    /// Runs the four phases (see `ReshardConfiguration`). The topology file's current epoch
    /// (0 if it does not exist) is the starting point; it must be `stable`.
    /// - Throws: `ReshardError` for a bad topology file, an unreachable node or an unexpected reply;
    ///   the file then stays in the phase reached (clients keep writing both owners, so rerunning finishes the move).
    public static func run(_ c: ReshardConfiguration, clock: any ClientClock = SystemClientClock(),
                           progress: (ReshardEvent) -> Void = { _ in }) throws(ReshardError) -> ReshardReport {
        var report = ReshardReport()
        let start = clock.nanoseconds()
        func elapsed() -> Double { Double(clock.nanoseconds() &- start) / 1e9 }
        let existing: RingTopology?
        do { existing = try RingTopology.read(path: c.topologyFile) } catch { throw .topology(error) }
        let fromNames = c.from.map(\.description), toNames = c.to.map(\.description)
        if let existing {
            guard existing.phase == .stable || existing.nodes == toNames else {
                throw .inconsistent("topology \(c.topologyFile) is in phase \(existing.phase.rawValue) towards \(existing.nodes): expected stable, or the same target list to finish that move")
            }
            // Already moved: starting over would publish `migrating` with the --from list as the
            // read owner, sending every client's reads back to the old nodes, which no longer
            // hold the keys written since (or any moved key, after cleanup).
            guard !(existing.phase == .stable && existing.nodes == toNames && toNames != fromNames) else {
                throw .inconsistent("topology \(c.topologyFile) is already stable on the --to nodes \(toNames) (epoch \(existing.epoch)): nothing to move")
            }
            guard existing.nodes == fromNames || existing.nodes == toNames else {
                throw .inconsistent("topology \(c.topologyFile) lists \(existing.nodes), not the --from nodes \(fromNames)")
            }
        }
        let newRouter: any ShardRouter
        do { newRouter = try c.router.makeRouter(nodes: toNames) } catch { throw .router(error) }
        var epoch = existing?.epoch ?? 0

        func publish(_ phase: RingPhase) throws(ReshardError) {
            epoch += 1
            let t = RingTopology(epoch: epoch, phase: phase, nodes: toNames, previous: phase == .stable ? nil : fromNames)
            do { try t.write(path: c.topologyFile) } catch { throw .topology(error) }
            report.phaseSeconds[phase.rawValue] = elapsed()
            progress(.phase(phase, epoch: epoch))
            clock.sleep(until: clock.nanoseconds() &+ UInt64(c.graceSeconds * 1e9))
        }

        var connections: [String: RESPConnection] = [:]
        defer { for conn in connections.values { conn.close() } }
        func connection(_ e: RedisEndpoint) throws(ReshardError) -> RESPConnection {
            if let conn = connections[e.description], conn.isOpen { return conn }
            do {
                let conn = try RESPConnection(endpoint: e, password: c.password, timeoutSeconds: c.settings.ioTimeoutSeconds,
                                              connectTimeoutSeconds: c.settings.connectTimeoutSeconds)
                connections[e.description] = conn
                return conn
            } catch { throw .node(e.description, error) }
        }
        func pipeline(_ e: RedisEndpoint, _ commands: [[[UInt8]]]) throws(ReshardError) -> [RESPValue] {
            let conn = try connection(e)
            do {
                for command in commands { conn.append(arguments: command) }
                try conn.flush()
                var replies: [RESPValue] = []
                for _ in commands { replies.append(try conn.readReply()) }
                return replies
            } catch { throw .node(e.description, error) }
        }
        /// Every key on `e`, a SCAN batch at a time.
        func forEachBatch(_ e: RedisEndpoint, _ body: ([[UInt8]]) throws(ReshardError) -> Void) throws(ReshardError) {
            var cursor: [UInt8] = Array("0".utf8)
            repeat {
                let reply = try pipeline(e, [[Array("SCAN".utf8), cursor, Array("COUNT".utf8), Array(String(c.batch).utf8)]])[0]
                guard let parts = reply.elements, parts.count == 2, let next = parts[0].bytes, let keys = parts[1].elements else {
                    throw .reply(e.description, command: "SCAN", reply)
                }
                try body(keys.compactMap(\.bytes))
                cursor = next
            } while cursor != Array("0".utf8)
        }

        // A move not yet published: every node must answer before clients are told to write to
        // the new owners. Before, a --to node that was down (a typo, a stopped server) was
        // found only after `migrating` was published: the clients' writes to it failed and
        // the file could only go forward, towards the dead node.
        if existing == nil || existing?.phase == .stable {
            for e in c.from + c.to {
                let reply = try pipeline(e, [[Array("PING".utf8)]])[0]
                guard reply == .simpleString("PONG") else { throw .reply(e.description, command: "PING", reply) }
            }
        }
        if existing?.phase != .switching {
            try publish(.migrating)
            let copyStart = elapsed()
            for old in c.from {
                var copied = 0
                try forEachBatch(old) { (keys) throws(ReshardError) in
                    report.scannedKeys += keys.count
                    let moving = keys.filter { toNames[newRouter.node(forKey: $0)] != old.description }
                    guard !moving.isEmpty else { return }
                    report.movingKeys += moving.count
                    let values = try pipeline(old, moving.map { [Array("GET".utf8), $0] })
                    var byTarget: [Int: [[[UInt8]]]] = [:]
                    for (key, value) in zip(moving, values) {
                        switch value {
                        case .bulkString(let bytes): byTarget[newRouter.node(forKey: key), default: []].append([Array("SET".utf8), key, bytes, Array("NX".utf8)])
                        case .null: report.vanishedKeys += 1
                        case .error(let m) where m.hasPrefix("WRONGTYPE"): report.skippedKeys += 1
                        default: throw .reply(old.description, command: "GET", value)
                        }
                    }
                    for (target, commands) in byTarget {
                        for reply in try pipeline(c.to[target], commands) {
                            switch reply {
                            case .simpleString("OK"): report.copiedKeys += 1; copied += 1
                            case .null: report.alreadyPresentKeys += 1
                            default: throw .reply(c.to[target].description, command: "SET NX", reply)
                            }
                        }
                    }
                }
                progress(.copied(node: old.description, keys: copied))
            }
            report.phaseSeconds["copy"] = elapsed() - copyStart
            try publish(.switching)
        }
        try publish(.stable)
        // Keys that were not copied (not strings) must stay where they are: no cleanup then.
        if c.cleanup && report.skippedKeys == 0 {
            for old in c.from {
                var deleted = 0
                try forEachBatch(old) { (keys) throws(ReshardError) in
                    let moved = keys.filter { toNames[newRouter.node(forKey: $0)] != old.description }
                    guard !moved.isEmpty else { return }
                    for reply in try pipeline(old, moved.map { [Array("DEL".utf8), $0] }) {
                        if case .integer(let n) = reply { deleted += Int(n) }
                    }
                }
                report.deletedKeys += deleted
                progress(.cleaned(node: old.description, keys: deleted))
            }
        }
        report.finalEpoch = epoch
        return report
    }
}
