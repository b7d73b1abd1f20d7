// Shared helpers for the Workload tests: seeds, paths, building workloads from text.

import Foundation
import KVCore
@testable import Workload

/// The seed for a randomized test: KVLAB_SEED if set, else `fallback`. Printed, so any failure
/// replays with `KVLAB_SEED=<seed> swift test --filter ...`.
func testSeed(_ fallback: UInt64, _ name: String = #function) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["KVLAB_SEED"].flatMap { UInt64($0) } ?? fallback
    print("\(name): seed=\(seed)")
    return seed
}

/// The package's `workloads/` directory.
let workloadsDirectory: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("workloads").path
}()

/// A configuration from properties text (as one -P file named `path`) plus -p overrides.
func configuration(_ text: String, path: String = "test.properties", overrides: [String] = []) throws -> CoreWorkloadConfiguration {
    var properties = WorkloadProperties()
    properties.add(try PropertiesFile(contents: text, path: path))
    for o in overrides { try properties.applyOverride(o) }
    return try CoreWorkloadConfiguration(properties: properties)
}

/// The error thrown by `body`, as WorkloadError.
func workloadError(_ body: () throws -> Void) -> WorkloadError? {
    do { try body() } catch let error as WorkloadError { return error } catch { return nil }
    return nil
}

/// A temporary directory, removed by the caller.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "kvlab-workload-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Chi-square statistic of observed counts against equal expected counts.
func chiSquareUniform(_ counts: [Int]) -> Double {
    let total = Double(counts.reduce(0, +))
    let expected = total / Double(counts.count)
    return counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
}
