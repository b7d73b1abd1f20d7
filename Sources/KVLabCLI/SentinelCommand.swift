// `kvlab sentinel`: monitor a replicated group and fail it over, with Redis Sentinel's rules.

import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
@preconcurrency import Foundation
import KVClient
import Sentinel

struct SentinelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentinel",
        abstract: "Monitor a primary and its replicas, and fail over by majority vote (Redis Sentinel's rules and replies).",
        discussion: """
        Run three (or five), each told the others with --sentinel. Each PINGs the primary and \
        its replicas (found in the primary's INFO replication), calls the primary subjectively \
        down (SDOWN) after --down-after-ms without a valid reply, and objectively down (ODOWN) \
        when --quorum sentinels agree (SENTINEL is-master-down-by-addr). One sentinel then \
        raises the epoch, waits a random 0-1 s, and asks for votes; each sentinel votes once \
        per epoch, for the first asker; a winner needs max(majority of all sentinels, quorum) \
        votes, else the attempt is abandoned after min(10 s, --failover-timeout-ms) and not \
        retried for twice the timeout. The winner sends REPLICAOF NO ONE to the best replica \
        (lowest priority, then highest processed offset, then run ID), REPLICAOF to the \
        others, and the new configuration (its epoch) reaches the other sentinels, so all \
        answer SENTINEL get-master-addr-by-name with the new primary. An old primary that \
        comes back claiming to be a master is made a replica after --reconfigure-after-ms.

        Differences from redis-sentinel: peers are given explicitly with --sentinel instead \
        of being discovered through the __sentinel__:hello channel, and the configuration is \
        sent to them directly with a kvlab SENTINEL HELLO command every 2 s; nothing is written \
        to a config file (epochs live in memory); replicas are reconfigured all at once \
        (parallel-syncs is not used); there is no TILT mode and no scripts.

        Works against kvlab serve (with replication) and redis-server. Clients: redis-py's \
        redis.sentinel.Sentinel, redis-cli -p PORT SENTINEL ..., and kvlab's driver with \
        --server sentinel://h:p,h:p/NAME. Example:
          kvlab sentinel --port 26379 --monitor mymaster 127.0.0.1:6379 --quorum 2 \\
            --sentinel 127.0.0.1:26380 --sentinel 127.0.0.1:26381 --down-after-ms 5000
        """
    )

    @Option(help: "TCP port to listen on (0 picks a free one, printed on stdout).")
    var port: Int = 26379

    @Option(help: ArgumentHelp("Address to listen on; outgoing connections (to nodes and peers) are bound to it too, so a fault-injecting proxy can tell this sentinel by its source IP. Default: listen on 127.0.0.1, outgoing unbound.", valueName: "ip"))
    var bind: String?

    @Option(parsing: .upToNextOption, help: ArgumentHelp("The group to monitor: its name and the primary's address.", valueName: "name host:port"))
    var monitor: [String] = []

    @Option(help: "Sentinels that must agree the primary is down before a failover starts.")
    var quorum: Int = 2

    @Option(name: .customLong("sentinel"), help: ArgumentHelp("Another sentinel of the group, repeatable (explicit peers instead of Redis's hello pub/sub).", valueName: "host:port"))
    var sentinels: [String] = []

    @Option(name: .customLong("down-after-ms"), help: "Silence after which a node is subjectively down.")
    var downAfterMilliseconds: Int64 = 30_000

    @Option(name: .customLong("failover-timeout-ms"), help: "Bound on each failover step; no new failover of the group for twice this.")
    var failoverTimeoutMilliseconds: Int64 = 180_000

    @Option(name: .customLong("ping-interval-ms"), help: "PING period of nodes.")
    var pingIntervalMilliseconds: Int64 = 1000

    @Option(name: .customLong("info-interval-ms"), help: "INFO period of nodes (1 s for replicas while the primary is down).")
    var infoIntervalMilliseconds: Int64 = 10_000

    @Option(name: .customLong("reconfigure-after-ms"), help: "How long a node may claim the wrong role (an old primary back as master) before it is told REPLICAOF.")
    var reconfigureAfterMilliseconds: Int64 = 8000

    @Option(name: .customLong("announce-ip"), help: ArgumentHelp("The address peers and clients know this sentinel by (default: --bind, or 127.0.0.1).", valueName: "ip"))
    var announceIP: String?

    @Option(name: .customLong("announce-port"), help: ArgumentHelp("The port peers and clients know this sentinel by (default: --port).", valueName: "port"))
    var announcePort: Int?

    @Option(name: .customLong("auth-pass"), help: ArgumentHelp("Password of the monitored nodes.", valueName: "password"))
    var authPass: String?

    @Option(help: "Seed of the random start delays (default: random, printed).")
    var seed: UInt64?

    @Option(name: .customLong("run-id"), help: ArgumentHelp("This sentinel's run ID (default: 40 random hex digits).", valueName: "hex"))
    var runID: String?

    func validate() throws {
        guard monitor.count == 2 else {
            throw ValidationError("--monitor: expected a name and the primary's host:port (--monitor mymaster 127.0.0.1:6379), got \(monitor.count) value(s)")
        }
        _ = try Self.endpoint(monitor[1], option: "--monitor")
        for s in sentinels { _ = try Self.endpoint(s, option: "--sentinel") }
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port): expected 0...65535") }
        if let announcePort, !(1...65535).contains(announcePort) { throw ValidationError("--announce-port \(announcePort): expected 1...65535") }
    }

    static func endpoint(_ text: String, option: String) throws -> RedisEndpoint {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
              colon != text.startIndex else {
            throw ValidationError("\(option) \(text): expected host:port with a port in 1...65535")
        }
        return RedisEndpoint(host: String(text[..<colon]), port: port)
    }

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        var generator = SystemRandomNumberGenerator()
        let seed = self.seed ?? generator.next()
        let runID = self.runID ?? (0..<40).map { _ in String(Int.random(in: 0..<16, using: &generator), radix: 16) }.joined()
        let listenHost = bind ?? "127.0.0.1"
        let master = try Self.endpoint(monitor[1], option: "--monitor")
        let peers = try sentinels.map { try Self.endpoint($0, option: "--sentinel") }
        // The announced port may be the bound one (port 0): decided after binding, so the
        // configuration is built then.
        let links = RESPSentinelLinks(sourceHost: bind, timeoutSeconds: max(0.2, min(Double(downAfterMilliseconds) / 1000, 5)), password: authPass)
        var node: SentinelNode?
        var server: SentinelServer?
        // Bind first to learn the port, with a placeholder node answering nothing yet.
        var configuration = SentinelConfiguration(masterName: monitor[0], master: master, quorum: quorum, peers: peers, runID: runID,
                                                  announced: RedisEndpoint(host: announceIP ?? listenHost, port: announcePort ?? port))
        configuration.downAfterMilliseconds = downAfterMilliseconds
        configuration.failoverTimeoutMilliseconds = failoverTimeoutMilliseconds
        configuration.pingIntervalMilliseconds = pingIntervalMilliseconds
        configuration.infoIntervalMilliseconds = infoIntervalMilliseconds
        configuration.reconfigureAfterMilliseconds = reconfigureAfterMilliseconds
        if port == 0 && announcePort == nil {
            // Pick the port now so peers can be told it (the announced address is fixed at start).
            let probe = try SentinelServer(node: SentinelNode(configuration: configuration, links: links, seed: seed))
            let picked = try probe.start(host: listenHost, port: 0)
            try probe.shutdown()
            configuration.announced.port = picked
        }
        let problems = configuration.problems()
        guard problems.isEmpty else { throw CLIError(message: "kvlab sentinel: " + problems.joined(separator: "; "), code: 2) }
        let created = SentinelNode(configuration: configuration, links: links, seed: seed) { event in
            Console.output("kvlab sentinel: \(Self.timestamp()) \(event.name) \(event.detail)")
        }
        node = created
        let listener = SentinelServer(node: created)
        server = listener
        let bound: Int
        do { bound = try listener.start(host: listenHost, port: port == 0 ? configuration.announced.port : port) } catch {
            throw CLIError(message: "kvlab sentinel: cannot listen on \(listenHost):\(port): \(error)", code: 1)
        }
        Console.output("kvlab sentinel: listening on \(listenHost):\(bound), run id \(runID), seed \(seed); monitoring \(configuration.masterName) at \(master), quorum \(quorum) of \(peers.count + 1) sentinels")
        created.startTicking()

        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "kvlab.sentinel.signals")
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler { listener.closeListener() }
            source.resume()
            sources.append(source)
        }
        listener.waitUntilClosed()
        try? server?.shutdown()
        _ = (sources, node)
        Console.output("kvlab sentinel: stopped")
    }

    static func timestamp() -> String {
        let now = Date()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: now)
    }
}
