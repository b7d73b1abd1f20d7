// `kvlab chaos-compare A.json B.json ...`: chaos reports side by side (Redis + Sentinel vs etcd under one schedule), as text, JSON and HTML.

import ArgumentParser
import Chaos
import Foundation

struct ChaosCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos-compare",
        abstract: "Compare chaos reports side by side: lost writes, linearizability, availability and latency per second.",
        discussion: """
        Reads two or more NAME.json reports written by `kvlab chaos` (the same schedule on \
        different stores, say), prints the comparison, and with --output BASE writes \
        BASE.json, BASE.html and BASE.txt. Example:
          kvlab chaos-compare results/chaos/redis-sentinel-lag-kill.json results/chaos/etcd-lag-kill.json \\
              --output results/chaos/redis-vs-etcd-lag-kill
        """
    )

    @Argument(help: "Chaos report JSON files.")
    var reports: [String]

    @Option(help: "Write BASE.json, BASE.html and BASE.txt.")
    var output: String?

    func validate() throws {
        guard reports.count >= 2 else { throw ValidationError("give at least two reports to compare") }
    }

    func run() throws {
        var loaded: [ChaosReport] = []
        for path in reports {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                loaded.append(try JSONDecoder().decode(ChaosReport.self, from: data))
            } catch {
                throw CLIError(message: "kvlab chaos-compare: \(path): expected a kvlab chaos report (JSON): \(error)", code: 2)
            }
        }
        let comparison = ChaosComparison(loaded)
        let text = comparison.text()
        if let output {
            do {
                try comparison.json().write(toFile: output + ".json", atomically: true, encoding: .utf8)
                try comparison.html().write(toFile: output + ".html", atomically: true, encoding: .utf8)
                try text.write(toFile: output + ".txt", atomically: true, encoding: .utf8)
            } catch {
                throw CLIError(message: "kvlab chaos-compare: cannot write \(output).json/.html/.txt: \(error)", code: 2)
            }
        }
        Console.output(text, terminator: "")
    }
}
