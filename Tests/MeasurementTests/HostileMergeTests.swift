// Regressions from attacking kvlab merge with mismatched files (results/hostile-attacks.md).

@testable import Measurement
import Testing

@Suite("Hostile merges")
struct HostileMergeTests {
    @Test("merging a load result with a run result is refused, naming the odd one")
    func loadAndRunDoNotMerge() {
        let run = Fixtures.result(seed: 1, count: 100, runtimeMs: 10)
        var load = Fixtures.result(seed: 2, count: 100, runtimeMs: 10)
        load.metadata.phase = .load
        #expect(throws: ResultMergeError.mixedPhases(resultIndex: 1, phase: "load", expected: "run")) {
            _ = try ResultMerger.merge([run, load])
        }
        #expect(throws: Never.self) { _ = try ResultMerger.merge([run, Fixtures.result(seed: 3, count: 50, runtimeMs: 5)]) }
    }
}
