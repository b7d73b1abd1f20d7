// Helpers shared by the hash engine tests: seeds, keys and values.

import Foundation
import KVCore

/// The seed of a randomized test: `KVLAB_SEED` when set (to replay a failure), else a fresh one.
func testSeed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["KVLAB_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}

/// A 16-byte key naming `n`.
func key16(_ n: Int) -> [UInt8] {
    Array(String(format: "key%013d", n).utf8)
}

/// `count` bytes derived from `n`, so a read can be checked against what was written.
func valueBytes(_ n: Int, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: n &* 31 &+ $0) }
}
