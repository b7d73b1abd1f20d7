// `kvlab run --clock`: the TSC clock and CLOCK_MONOTONIC time the same operation stream; a bad choice is refused.

import Foundation
import Testing

@Suite("kvlab run --clock")
struct ClockOptionCLITests {
    /// The `[SERIES], Operations, N` lines of a run's output.
    func operationCounts(_ stdout: String) -> [String] {
        stdout.split(separator: "\n").map(String.init).filter { $0.contains("], Operations, ") && !$0.hasPrefix("[OVERALL]") }
    }

    @Test("--clock monotonic, tsc where reliable, and auto run the same operations of the same seeded stream")
    func clocksRunTheSameStream() throws {
        let workload = workloads.appendingPathComponent("workloada").path
        let arguments = ["run", "-P", workload, "--engine", "hash", "-p", "operationcount=3000", "-p", "recordcount=200"]
        let monotonic = try KVLabProcess.run(arguments + ["--clock", "monotonic"])
        let auto = try KVLabProcess.run(arguments + ["--clock", "auto"])
        #expect(monotonic.status == 0, "\(monotonic.stderr)")
        #expect(auto.status == 0, "\(auto.stderr)")
        let counts = operationCounts(monotonic.stdout)
        #expect(counts.contains { $0.hasPrefix("[READ], Operations, ") }, "\(monotonic.stdout)")
        #expect(operationCounts(auto.stdout) == counts)
        // The kernel decides whether tsc may be demanded; either way the answer is definite.
        let source = (try? String(contentsOfFile: "/sys/devices/system/clocksource/clocksource0/current_clocksource", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let tsc = try KVLabProcess.run(arguments + ["--clock", "tsc"])
        if source == "tsc" && tsc.status == 0 {
            #expect(operationCounts(tsc.stdout) == counts)
        } else {
            #expect(tsc.status == 2, "\(tsc.stderr)")
            #expect(tsc.stderr.contains("TSC clock cannot be used"), "\(tsc.stderr)")
        }
    }

    @Test("a --clock that is not auto, tsc or monotonic is refused naming the value")
    func badClockRefused() throws {
        let run = try KVLabProcess.run(["run", "-P", workloads.appendingPathComponent("workloada").path, "--engine", "null", "--clock", "sundial"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--clock sundial"), "\(run.stderr)")
    }
}
