// Array conveniences over SkipList and the seed every randomized test replays from.

import Foundation
import KVCore
@testable import SkipListEngine

/// The seed for randomized tests: `KVLAB_SEED` if set, else a fresh one (printed on failure).
func testSeed() -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["KVLAB_SEED"], let seed = UInt64(text) { return seed }
    return UInt64.random(in: 0...UInt64.max)
}

extension SkipList {
    @discardableResult
    func insert(_ key: [UInt8], _ value: [UInt8]) -> Bool {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in insert(k, v) } }
    }

    @discardableResult
    func remove(_ key: [UInt8]) -> Bool {
        key.withUnsafeBytes { remove($0) }
    }

    func lookup(_ key: [UInt8]) -> [UInt8]? {
        key.withUnsafeBytes { k in value(forKey: k) { Array($0) } }
    }

    /// Every record with key >= start (all records when start is nil), in list order.
    func entries(from start: [UInt8]? = nil) -> [KeyValuePair] {
        withReadView { view in
            var cursor = start.map { s in s.withUnsafeBytes { view.seek($0) } } ?? view.first()
            var out: [KeyValuePair] = []
            while cursor.isValid {
                out.append(KeyValuePair(key: Array(cursor.key), value: Array(cursor.value)))
                cursor.next()
            }
            return out
        }
    }

    /// The same records through `forEach(from:)`.
    func visited(from start: [UInt8]) -> [KeyValuePair] {
        var out: [KeyValuePair] = []
        start.withUnsafeBytes { s in
            forEach(from: s) { k, v in
                out.append(KeyValuePair(key: Array(k), value: Array(v)))
                return true
            }
        }
        return out
    }
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}

/// Problems found by concurrent test threads, collected for one `#expect` at the end.
final class ProblemLog: @unchecked Sendable {
    private let lock = Lock()
    private var entries: [String] = []

    func report(_ text: String) { lock.withLock { entries.append(text) } }

    var all: [String] { lock.withLock { entries } }
}
