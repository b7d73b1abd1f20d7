// Driver timeouts that cannot be converted to timevals, poll(2) milliseconds or backoff
// nanoseconds are refused by validation instead of trapping mid-run.

import Foundation
import KVLabTestSupport
import Testing

@Suite("--timeout, --connect-timeout and --max-backoff bounds")
struct TimeoutValidationCLITests {
    @Test("infinite or absurd seconds are a validation error naming the option")
    func nonFiniteRefused() throws {
        for (option, value) in [("--timeout", "inf"), ("--connect-timeout", "inf"), ("--max-backoff", "1e300")] {
            let run = try KVLabProcess.run(["run", "-P", workloads.appendingPathComponent("workloadc").path,
                                            "-p", "recordcount=10", "-p", "operationcount=10", "-p", "threadcount=1",
                                            "--server", "redis://127.0.0.1:1", option, value])
            #expect(run.status != 0)
            #expect(run.stderr.contains("\(option) ") && run.stderr.contains("finite"), "\(option) \(value): \(run.stderr)")
        }
    }
}
