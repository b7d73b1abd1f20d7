// The structural checks of a SkipList, for tests and the conformance suite.

import KVCore

extension SkipList {
    /// Checks, under the write lock (readers change nothing, so they may run meanwhile): every node's height is within 1...maxHeight; the list's
    /// height is in bounds and no level at or above it is linked; every level is sorted
    /// strictly ascending by the comparator; each level holds exactly the nodes of the level
    /// below that are tall enough (so it is a subset of it); level 0 holds `count` nodes; every
    /// node's stored prefix is its key's and every hint above level 0 is its successor's prefix;
    /// the search index is consistent with the list (`checkSearchIndexLocked`).
    /// - Throws: `EngineError.corruption(file: "<memory>", offset: level, detail:)` for the
    ///   first violation found.
    public func checkInvariants() throws(EngineError) {
        try writeLock.withLock { () throws(EngineError) in try checkInvariantsLocked() }
    }

    func checkInvariantsLocked() throws(EngineError) {
        func corruption(_ level: Int, _ detail: String) -> EngineError {
            .corruption(file: "<memory>", offset: Int64(level), detail: detail)
        }
        guard (1...Self.maxHeight).contains(height) else {
            throw corruption(0, "list height \(height) outside 1...\(Self.maxHeight)")
        }
        for level in height..<Self.maxHeight where head.next(level) != nil {
            throw corruption(level, "level \(level) is linked but the list height is \(height)")
        }
        // Level 0: heights, order, count (bounded walk, so a cycle is reported, not looped).
        var nodes = 0
        var previous: SkipListNode? = nil
        var node = head.next(0)
        while let current = node {
            nodes += 1
            guard nodes <= count else {
                throw corruption(0, "level 0 holds more than the \(count) records counted")
            }
            guard (1...Self.maxHeight).contains(current.height) else {
                throw corruption(0, "node \(nodes - 1) has height \(current.height) outside 1...\(Self.maxHeight)")
            }
            guard current.height <= height else {
                throw corruption(0, "node \(nodes - 1) has height \(current.height) above the list height \(height)")
            }
            guard current.prefix == comparator.prefix(current.key) else {
                throw corruption(0, "node \(nodes - 1) holds a key prefix that is not its key's")
            }
            if let previous, comparator.compare(previous.key, current.key) >= 0 {
                throw corruption(0, "node \(nodes - 1) is not strictly after its predecessor")
            }
            previous = current
            node = current.next(0)
        }
        guard nodes == count else {
            throw corruption(0, "level 0 holds \(nodes) records, count says \(count)")
        }
        // Level L: exactly the level L-1 nodes of height > L, in the same order. Level 0 is
        // sorted, so each level is sorted too.
        for level in 1..<height {
            var below = head.next(level - 1)
            var here = head.next(level)
            var index = 0
            while true {
                while let candidate = below, candidate.height <= level { below = candidate.next(level - 1) }
                switch (below, here) {
                case (nil, nil):
                    break
                case let (expected?, actual?) where expected == actual:
                    below = expected.next(level - 1)
                    here = actual.next(level)
                    index += 1
                    continue
                case (_?, nil):
                    throw corruption(level, "level \(level) ends after \(index) nodes; a taller node below is missing")
                case (nil, _?):
                    throw corruption(level, "node \(index) of level \(level) is not on level \(level - 1)")
                case (_?, _?):
                    throw corruption(level, "node \(index) of level \(level) differs from the next tall node of level \(level - 1)")
                }
                break
            }
            // The hints: each pointer's stored prefix is its successor's (exact under the lock).
            var predecessor = head
            index = 0
            while let successor = predecessor.next(level) {
                guard predecessor.hint(level) == successor.prefix else {
                    throw corruption(level, "the hint before node \(index) of level \(level) is not that node's key prefix")
                }
                predecessor = successor
                index += 1
            }
        }
        try checkSearchIndexLocked()
    }
}
