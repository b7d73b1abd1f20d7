// `kvlab consistency register|set`: a Jepsen-style workload against a Redis-protocol server, recorded as a history.

import ArgumentParser
import Consistency
import Foundation
import History
import KVClient
import Linearizability

struct ConsistencyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistency",
        abstract: "Run a Jepsen-style register or set workload against a server and record its history.",
        discussion: """
        register: clients read, write and cas (compare-and-set) small integers on a few keys; \
        cas is one EVAL of a Lua script, or WATCH/GET/MULTI/SET/EXEC on servers without Lua \
        (kvlab serve). Check the history with: kvlab check FILE --model cas-register (per key).
        set: clients SADD unique integers to a few keys; at the end one SMEMBERS per key is \
        recorded as the final read. Check with: kvlab check FILE --model set (lost, unexpected, \
        recovered elements per key).
        A request that times out or whose connection drops is recorded as info (its effect \
        unknown) and the client continues as a new process; refusals that surely did not apply \
        (READONLY, NOREPLICAS from min-replicas, MOVED, ...) are fail. Example:
          kvlab consistency register --server redis://127.0.0.1:6379 --clients 5 --duration 10 --history reg.jsonl
          kvlab check reg.jsonl --model cas-register
        """
    )

    @Argument(help: "The workload: register or set.")
    var workload: String

    @Option(help: ArgumentHelp("The server: redis://[:password@]host:port.", valueName: "url"))
    var server: String

    @Option(help: ArgumentHelp("Where to write the history (kvlab JSON Lines).", valueName: "file"))
    var history: String

    @Option(help: "Client threads (each a process of the history).")
    var clients: Int = 5

    @Option(help: "Keys (registers or sets) the operations spread over.")
    var keys: Int = 3

    @Option(help: "Register values are drawn from 0..<values.")
    var values: Int = 5

    @Option(help: ArgumentHelp("How long to run, in seconds (the final reads come after).", valueName: "seconds"))
    var duration: Double = 10

    @Option(help: ArgumentHelp("Seconds one request may wait for its reply; longer is recorded as info.", valueName: "seconds"))
    var timeout: Double = 1

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp("Seconds a TCP connect may take.", valueName: "seconds"))
    var connectTimeout: Double = 1

    @Option(help: ArgumentHelp("Total requests per second over all clients (0 = unthrottled).", valueName: "ops"))
    var rate: Double = 0

    @Option(help: "Seed of the operations, keys and values each client picks.")
    var seed: UInt64 = 1

    @Option(name: .customLong("source-addr"), help: ArgumentHelp("Bind every connection to this local address before connecting (e.g. 127.0.0.20, for the fault proxy).", valueName: "ip"))
    var sourceAddress: String?

    @Option(help: ArgumentHelp("How cas is done: automatic, eval or watch-multi.", valueName: "method"))
    var cas: String = "automatic"

    @Option(name: .customLong("key-prefix"), help: ArgumentHelp("Prefix of the keys used (default kvlab:register: or kvlab:set:).", valueName: "prefix"))
    var keyPrefix: String?

    @Flag(name: .customLong("keep-keys"), help: "Do not delete the workload's keys before starting (the checker then cannot assume nil/empty initial state).")
    var keepKeys = false

    func validate() throws {
        guard ConsistencyWorkloadConfiguration.Kind(rawValue: workload) != nil else {
            throw ValidationError("workload '\(workload)': expected register or set")
        }
        guard ConsistencyWorkloadConfiguration.CASMethod(rawValue: cas) != nil else {
            throw ValidationError("--cas \(cas): expected automatic, eval or watch-multi")
        }
        do {
            let target = try RedisTarget(url: server)
            guard !target.cluster, target.endpoints.count == 1 else {
                throw ValidationError("--server \(server): expected one redis://host:port (the consistency workloads talk to one primary)")
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("--server: \(error)")
        }
        do { try makeConfiguration().validate() } catch { throw ValidationError("\(error)") }
    }

    func makeConfiguration() -> ConsistencyWorkloadConfiguration {
        var c = ConsistencyWorkloadConfiguration(kind: ConsistencyWorkloadConfiguration.Kind(rawValue: workload) ?? .register)
        c.clients = clients
        c.keys = keys
        c.values = values
        c.durationSeconds = duration
        c.requestTimeoutSeconds = timeout
        c.connectTimeoutSeconds = connectTimeout
        c.operationsPerSecond = rate
        c.seed = seed
        c.sourceHost = sourceAddress
        c.casMethod = ConsistencyWorkloadConfiguration.CASMethod(rawValue: cas) ?? .automatic
        if let keyPrefix { c.keyPrefix = keyPrefix }
        c.resetKeys = !keepKeys
        return c
    }

    func run() throws {
        var configuration = makeConfiguration()
        let target: RedisTarget
        do { target = try RedisTarget(url: server) } catch { throw CLIError(message: "kvlab consistency: \(error)", code: 2) }
        configuration.password = target.password
        let endpoint = target.endpoints[0]
        let recorded: History
        do {
            recorded = try runConsistencyWorkload(configuration, resolve: { endpoint })
        } catch {
            throw CLIError(message: "kvlab consistency: \(error)")
        }
        do { try Data(JSONLinesFormat.write(recorded).utf8).write(to: URL(fileURLWithPath: history)) } catch {
            throw CLIError(message: "kvlab consistency: cannot write history '\(history)': \(error.localizedDescription)")
        }
        var counts: [Event.Kind: Int] = [:]
        for event in recorded.events where event.kind != .invoke { counts[event.kind, default: 0] += 1 }
        let model = configuration.kind == .set ? "set" : "cas-register"
        Console.error("kvlab consistency: \(workload) on \(endpoint): \(counts[.ok] ?? 0) ok, \(counts[.fail] ?? 0) fail, \(counts[.info] ?? 0) info; history in '\(history)' (check it with: kvlab check \(history) --model \(model))")
    }
}
