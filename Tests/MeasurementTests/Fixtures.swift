// Shared builders for Measurement tests.

import Foundation
import Histogram
@testable import Measurement

enum Fixtures {
    static func metadata(engine: String = "hash", threads: Int = 1, start: TimeInterval = 1_775_044_800) -> RunMetadata {
        RunMetadata(kvlabVersion: "0.1.0", gitCommit: "abc1234", engine: engine, engineOptions: ["capacity": "1024"],
                    properties: ["recordcount": "1000", "operationcount": "1000", "workload": "site.ycsb.workloads.CoreWorkload"],
                    threads: threads, target: nil, startTime: Date(timeIntervalSince1970: start), machineCores: 2,
                    phase: .run, warmUpExcludedOperations: 0)
    }

    /// A deterministic pseudo-random stream (SplitMix64) so tests replay exactly.
    struct SplitMix64 {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// A latency in nanoseconds, log-uniform-ish between 100 ns and ~100 ms.
        mutating func latencyNanos() -> UInt64 {
            100 << (next() % 20) + next() % 1000
        }
    }

    /// A result from one recorder fed `count` pseudo-random reads and updates.
    static func result(seed: UInt64, count: Int, runtimeMs: UInt64, slowdown: UInt64 = 1) -> RunResult {
        var rng = SplitMix64(state: seed)
        var recorder = OperationRecorder()
        for i in 0..<count {
            recorder.record(series: i % 2 == 0 ? .read : .update, nanos: rng.latencyNanos() * slowdown, status: .ok)
        }
        return RunResult(metadata: metadata(), runtimeMilliseconds: runtimeMs, operations: UInt64(count), recorders: [recorder])
    }
}
