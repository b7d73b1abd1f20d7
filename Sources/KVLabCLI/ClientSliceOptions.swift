// `--client I/N`: one of N independent load generators (processes, pods, machines) takes its share of the work.

import ArgumentParser
import Workload

/// YCSB's protocol for several client machines, made one flag: no coordinator, each process
/// computes its own share from I and N, and `kvlab merge` adds their histograms afterwards.
///
/// - load: client I inserts records `insertstart + ⌊insertcount·I/N⌋ ..< insertstart + ⌊insertcount·(I+1)/N⌋`
///   (YCSB's `insertstart`/`insertcount`), so the N clients insert every record exactly once.
/// - run: client I runs `⌊operationcount·(I+1)/N⌋ − ⌊operationcount·I/N⌋` operations over the
///   whole keyspace (as one process would) at `target/N` operations per second, so the N clients
///   together do exactly `operationcount` operations at the total rate.
/// - both: the seed becomes `seed + I·0x9E3779B97F4A7C15`, so clients draw different keys
///   (client 0 keeps the single-process seed).
///
/// Not sliced: inserts in the run phase (workloads D and E) start at the same key in every
/// client, as in YCSB; give such runs distinct `insertstart` ranges by hand.
struct ClientSliceOptions: ParsableArguments {
    @Option(name: .customLong("client"), help: ArgumentHelp(
        "Be client I of N independent clients (I in 0..<N): load inserts its slice of the records, run does its share of operationcount and of -target; the seed differs per client. Merge the results with kvlab merge.",
        valueName: "I/N"))
    var client: String?

    /// (I, N), when given.
    func parsed() throws -> (index: Int, count: Int)? {
        guard let client else { return nil }
        let parts = client.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 1_000_000, (0..<n).contains(i) else {
            // The message names every bound checked: 1/1000000000 used to be refused with a
            // message it satisfied (N ≤ 1,000,000 was not said).
            throw ValidationError("--client \(client): expected I/N with 1 ≤ N ≤ 1000000 and 0 ≤ I < N (e.g. 0/4 ... 3/4)")
        }
        return (i, n)
    }

    func validate() throws { _ = try parsed() }

    /// `properties` with this client's share applied (unchanged without --client).
    /// - Throws: the workload's configuration error, if the properties do not parse.
    func applied(to properties: WorkloadProperties, phase: String) throws -> WorkloadProperties {
        guard let (i, n) = try parsed() else { return properties }
        let whole = try CoreWorkloadConfiguration(properties: properties)
        var sliced = properties
        // ⌊total·k/N⌋ without forming total·k, which overflows for large counts times large N.
        func share(_ total: Int64, _ k: Int) -> Int64 { total / Int64(n) * Int64(k) + total % Int64(n) * Int64(k) / Int64(n) }
        if phase == "load" {
            let start = whole.insertStart + share(whole.insertCount, i)
            let end = whole.insertStart + share(whole.insertCount, i + 1)
            sliced.applyFlag("--client", property: "insertstart", value: String(start))
            sliced.applyFlag("--client", property: "insertcount", value: String(end - start))
        } else {
            let count = share(whole.operationCount, i + 1) - share(whole.operationCount, i)
            sliced.applyFlag("--client", property: "operationcount", value: String(count))
        }
        if whole.target > 0 { sliced.applyFlag("--client", property: "target", value: String(whole.target / Double(n))) }
        sliced.applyFlag("--client", property: "seed", value: String(whole.seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15))
        return sliced
    }
}
