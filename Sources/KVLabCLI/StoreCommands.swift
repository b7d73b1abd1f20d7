// `kvlab store` (start a real etcd cluster or memcached until interrupted) and `kvlab etcd-register` (record and check a CAS-register history on etcd).

import ArgumentParser
import Driver
import Foundation
import History
import KVClient
import Linearizability
import StoreProcesses

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Start a real etcd cluster or memcached server on free loopback ports until interrupted.",
        discussion: """
        Prints the target URL for --server, then waits; Ctrl-C (SIGINT) or SIGTERM stops every \
        process and removes the temporary data directory. Needs Debian's etcd-server or memcached.
          kvlab store etcd --members 3
          kvlab store memcached
        """
    )

    @Argument(help: "etcd or memcached.") var store: String
    @Option(help: "etcd: members of the cluster.") var members = 3
    @Option(help: "memcached: item memory in megabytes (-m).") var memory = 256
    @Option(help: "memcached: worker threads (-t).") var threads = 4

    func validate() throws {
        guard ["etcd", "memcached"].contains(store) else { throw ValidationError("\(store): expected etcd or memcached") }
        guard (1...7).contains(members) else { throw ValidationError("--members \(members): expected 1...7") }
        guard memory >= 16, threads >= 1 else { throw ValidationError("--memory at least 16, --threads at least 1") }
    }

    func run() throws {
        // Block the stop signals before starting anything, then wait for one with sigwait.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let stop: () -> Void
        do {
            if store == "etcd" {
                let cluster = try EtcdCluster(members: members)
                Console.output(cluster.url)
                Console.error("kvlab store: etcd cluster of \(members) in \(cluster.directory.path); Ctrl-C stops it")
                stop = { cluster.stop() }
            } else {
                let server = try MemcachedServer(memoryMegabytes: memory, threads: threads)
                Console.output(server.url)
                Console.error("kvlab store: memcached (pid \(server.child.pid)); Ctrl-C stops it")
                stop = { server.stop() }
            }
        } catch {
            throw CLIError(message: "kvlab store: \(error)")
        }
        var received: Int32 = 0
        sigwait(&signals, &received)
        stop()
        Console.error("kvlab store: stopped (signal \(received))")
    }
}

struct EtcdRegisterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd-register",
        abstract: "Record a CAS-register history on etcd (read/write/cas on a few keys) and check it for linearizability.",
        discussion: """
        Clients read, write and compare-and-set small integers on a few keys through etcd's \
        JSON gateway; a write or cas whose outcome is unknown ends :info and its process is \
        retired. The history is checked per key with the cas-register model. Exit status 1 if \
        the checker finds a violation.
          kvlab etcd-register --start-cluster --clients 8 --keys 3 --ops 100 --output etcd.jsonl
          kvlab etcd-register --server etcd://127.0.0.1:2379 --read-consistency serializable
        """
    )

    @Option(help: ArgumentHelp("The cluster: etcd://host:port[,host:port...].", valueName: "url")) var server: String?
    @Flag(help: "Start a 3-member cluster on free loopback ports for the run (and stop it after).") var startCluster = false
    @Option(help: "Concurrent clients.") var clients = 8
    @Option(help: "Keys (registers).") var keys = 3
    @Option(help: "Operations per client.") var ops = 100
    @Option(help: "The seed of the clients' choices.") var seed: UInt64 = 1
    @Option(help: "Stop after this many seconds even if operations remain.") var maxSeconds = 60.0
    @Option(help: ArgumentHelp("linearizable or serializable reads.", valueName: "mode")) var readConsistency = "linearizable"
    @Option(help: ArgumentHelp("Write the history (kvlab JSON lines) to this file.", valueName: "file")) var output: String?

    func validate() throws {
        guard (server != nil) != startCluster else { throw ValidationError("give --server etcd://... or --start-cluster (one of them)") }
        if let server { do { _ = try EtcdURL(server) } catch { throw ValidationError("--server: \(error)") } }
        guard clients > 0, keys > 0, ops >= 0 else { throw ValidationError("--clients and --keys must be positive, --ops not negative") }
        guard maxSeconds > 0 && maxSeconds <= 86400 else { throw ValidationError("--max-seconds \(maxSeconds): expected 0 < s <= 86400") }
        guard EtcdReadConsistency(rawValue: readConsistency) != nil else {
            throw ValidationError("--read-consistency \(readConsistency): expected linearizable or serializable")
        }
    }

    func run() throws {
        var cluster: EtcdCluster? = nil
        defer { cluster?.stop() }
        let endpoints: [RedisEndpoint]
        do {
            if startCluster {
                cluster = try EtcdCluster(members: 3)
                endpoints = cluster!.endpoints
                Console.error("kvlab etcd-register: started \(cluster!.url)")
            } else {
                endpoints = try EtcdURL(server!).endpoints
            }
        } catch {
            throw CLIError(message: "kvlab etcd-register: \(error)")
        }
        let workload = EtcdRegisterWorkload(clients: clients, keys: keys, operationsPerClient: ops, maximumSeconds: maxSeconds,
                                            readConsistency: EtcdReadConsistency(rawValue: readConsistency) ?? .linearizable, seed: seed)
        let outcome = workload.run(endpoints: endpoints)
        Console.error("kvlab etcd-register: \(outcome.ok) ok, \(outcome.fail) fail, \(outcome.info) info (seed \(seed))")
        if let output {
            do { try Data(JSONLinesFormat.write(outcome.history).utf8).write(to: URL(fileURLWithPath: output)) } catch {
                throw CLIError(message: "kvlab etcd-register: cannot write '\(output)': \(error.localizedDescription)")
            }
        }
        let result: CheckResult
        do { result = try check(outcome.history, model: CASRegisterModel()) } catch {
            throw CLIError(message: "kvlab etcd-register: \(error)")
        }
        Console.output(result.textReport())
        if result.verdict == .violation { throw CLIError(message: "kvlab etcd-register: the history is not linearizable", code: 1) }
    }
}
