// Shared helpers of the B-tree tests: seeds, keys, values, engines on an in-memory file system.

import Foundation
import KVCore
import KVStorage
@testable import BTreeEngine

/// The seed for randomized tests: `KVLAB_SEED` if set, else a fresh one (printed by each test).
func testSeed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["KVLAB_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}

func key(_ i: Int, width: Int = 8) -> [UInt8] {
    let digits = String(i)
    return Array(("k" + String(repeating: "0", count: max(0, width - digits.count)) + digits).utf8)
}

func randomBytes(_ rng: inout SeededRandom, count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
}

/// `periodic` with an interval no test reaches: the background fsync never runs on its own,
/// so fsync counts and crash outcomes depend only on the test (which calls the tick itself).
let periodicByHand = DurabilityPolicy.periodic(intervalMilliseconds: 3_600_000)

/// A B-tree on `fs` in `/db`.
func openTree(_ fs: any FileSystem, pageSize: Int = 4096, cacheBytes: Int = 1 << 20,
              durability: DurabilityPolicy = periodicByHand, commitBytes: Int = 256 << 20) throws -> BTreeEngine {
    try BTreeEngine(fileSystem: fs, directory: "/db",
                    configuration: BTreeConfiguration(pageSize: pageSize, cacheBytes: cacheBytes, durability: durability,
                                                      commitBytes: commitBytes))
}

/// Every record of `engine`, by a full scan.
func contents(_ engine: BTreeEngine) throws -> [[UInt8]: [UInt8]] {
    Dictionary(uniqueKeysWithValues: try engine.scan(from: [], limit: .max).map { ($0.key, $0.value) })
}

/// A fresh temporary directory on the real file system.
func temporaryDirectory(_ label: String) -> String {
    let path = NSTemporaryDirectory() + "kvlab-btree-\(label)-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The `kvlab` executable built next to the test bundle.
var kvlabExecutable: URL {
    URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("kvlab")
}
