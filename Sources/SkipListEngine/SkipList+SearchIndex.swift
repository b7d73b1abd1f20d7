// Building, publishing, invalidating and retiring a SkipList's search index (writers, under the write lock).

import KVCore

/// A list's search index bookkeeping (guarded by the list's write lock).
@usableFromInline
struct SearchIndexState {
    /// The published index, if any.
    @usableFromInline var current: SkipListSearchIndex?
    /// Inserts since the last build, and how many trigger the next.
    @usableFromInline var insertsSinceBuild = 0
    @usableFromInline var insertThreshold = Int.max
    /// Entries of `current` marked retired since it was built.
    @usableFromInline var retiredEntries = 0
    /// Replaced indexes waiting for readers, by epoch parity (`.reclaiming` lists).
    @usableFromInline var retired: (even: [SkipListSearchIndex], odd: [SkipListSearchIndex]) = ([], [])
    /// Replaced indexes of an `.insertOnly` list, whose readers take no epoch: freed with the
    /// list. Rebuilds come after the list grows by a fixed fraction, so their sizes form a
    /// geometric series bounded by a small multiple of the last one.
    @usableFromInline var kept: [SkipListSearchIndex] = []
    /// Bytes of every index allocation still held.
    @usableFromInline var bytes = 0
    @usableFromInline var sizes: [UnsafeMutableRawPointer: Int] = [:]
    /// Builds so far (for tests).
    @usableFromInline var builds = 0

    @usableFromInline init() {}
}

extension SkipList {
    /// Bytes held by search indexes (the published one and replaced ones not yet freed).
    public var searchIndexBytes: Int { writeLock.withLock { indexState.bytes } }

    /// Counts an insert; rebuilds the index when enough new records are unindexed.
    @inlinable
    func noteInsertLocked() {
        guard indexPolicy.level > 1 else { return }
        indexState.insertsSinceBuild += 1
        if indexState.insertsSinceBuild >= indexState.insertThreshold { rebuildIndexLocked() }
    }

    /// Rebuilds the index once enough of its entries are retired.
    @inlinable
    func noteRetireLocked() {
        guard let index = indexState.current else { return }
        if Double(indexState.retiredEntries) > Double(index.count) * indexPolicy.rebuildAfterRetiredFraction {
            rebuildIndexLocked()
        }
    }

    /// Marks `node`, about to be unlinked, retired in every index that may still be read (the
    /// published one and replaced ones readers may still hold), before its unlinking stores.
    @inlinable
    func markUnlinkingLocked(_ node: SkipListNode) {
        guard indexState.current != nil || !indexState.retired.even.isEmpty || !indexState.retired.odd.isEmpty else { return }
        let nodeHeight = node.height
        func mark(_ index: SkipListSearchIndex) -> Bool {
            guard nodeHeight > index.startLevel, let entry = index.entry(of: node) else { return false }
            index.markRetired(entry)
            return true
        }
        if let current = indexState.current, mark(current) { indexState.retiredEntries += 1 }
        for index in indexState.retired.even { _ = mark(index) }
        for index in indexState.retired.odd { _ = mark(index) }
    }

    /// Builds an index over the nodes now on level `indexPolicy.level - 1`, publishes it
    /// (release store) and retires the one it replaces. O(entries): a walk of that level.
    @usableFromInline
    func rebuildIndexLocked() {
        let policy = indexPolicy
        let count = self.count
        indexState.insertsSinceBuild = 0
        indexState.retiredEntries = 0
        indexState.insertThreshold = max(Int(Double(count) * policy.rebuildAfterInsertFraction),
                                         policy.minimumEntries << (levelBits * max(policy.level - 1, 0)), 1)
        var built: (index: SkipListSearchIndex, bytes: Int)? = nil
        let startLevel = policy.level - 1
        if startLevel >= 1 && startLevel < height, let first = head.next(startLevel) {
            // Count first, then write the index in place (see `SkipListSearchIndex.build`).
            var entries = 1
            var last = first
            while let next = last.next(startLevel) {
                entries += 1
                last = next
            }
            if entries >= policy.minimumEntries {
                built = SkipListSearchIndex.build(head: head, level: startLevel, count: entries,
                                                  first: first.prefix, last: last.prefix)
            }
        }
        if let built {
            indexState.bytes += built.bytes
            indexState.sizes[built.index.base] = built.bytes
            indexState.builds += 1
        }
        let old = indexState.current
        indexState.current = built?.index
        indexCell.store(Int(bitPattern: built?.index.base), ordering: .releasing)
        if let old { retireIndexLocked(old) }
    }

    /// Takes the index out of readers' reach (for `removeAll`); it is freed like a replaced one.
    func unpublishIndexLocked() {
        guard let old = indexState.current else { return }
        indexState.current = nil
        indexCell.store(0, ordering: .releasing)
        retireIndexLocked(old)
        indexState.insertsSinceBuild = 0
        indexState.insertThreshold = indexPolicy.level > 1
            ? max(indexPolicy.minimumEntries << (levelBits * (indexPolicy.level - 1)), 1) : .max
    }

    @usableFromInline
    func retireIndexLocked(_ index: SkipListSearchIndex) {
        if isInsertOnly {
            indexState.kept.append(index)
        } else if reclaimer.current & 1 == 0 {
            indexState.retired.even.append(index)
        } else {
            indexState.retired.odd.append(index)
        }
    }

    @usableFromInline
    func freeIndexLocked(_ index: SkipListSearchIndex) {
        indexState.bytes -= indexState.sizes.removeValue(forKey: index.base) ?? 0
        index.deallocate()
    }

    /// Frees the replaced indexes of one epoch parity (their grace period is over).
    @usableFromInline
    func freeRetiredIndexesLocked(parity: Int) {
        if parity == 0 {
            guard !indexState.retired.even.isEmpty else { return }
            for index in indexState.retired.even { freeIndexLocked(index) }
            indexState.retired.even.removeAll(keepingCapacity: true)
        } else {
            guard !indexState.retired.odd.isEmpty else { return }
            for index in indexState.retired.odd { freeIndexLocked(index) }
            indexState.retired.odd.removeAll(keepingCapacity: true)
        }
    }

    /// Frees every index (the list is going away).
    func freeAllIndexesLocked() {
        indexCell.store(0, ordering: .releasing)
        if let current = indexState.current { freeIndexLocked(current) }
        indexState.current = nil
        for index in indexState.retired.even + indexState.retired.odd + indexState.kept { freeIndexLocked(index) }
        indexState.retired = ([], [])
        indexState.kept = []
    }

    /// Rebuilds the index now (tests, and after changing the policy).
    func rebuildSearchIndex() { writeLock.withLock { rebuildIndexLocked() } }

    /// Checks the published index (under the write lock): it is published in `indexCell`;
    /// its level-0 keys are the cut prefixes of its nodes, ascending; each upper key is the
    /// last key of its block below; every entry not marked retired is a node linked on the
    /// start level, in list order. Part of `checkInvariants`.
    func checkSearchIndexLocked() throws(EngineError) {
        func corruption(_ detail: String) -> EngineError {
            .corruption(file: "<memory>", offset: -1, detail: "search index: " + detail)
        }
        guard let index = indexState.current else {
            guard indexCell.load(ordering: .relaxed) == 0 else { throw corruption("published but not recorded") }
            return
        }
        guard indexCell.load(ordering: .relaxed) == Int(bitPattern: index.base) else {
            throw corruption("the published index is not the current one")
        }
        let startLevel = index.startLevel
        var linked: [Int: Int] = [:]
        var position = 0
        var node = startLevel < Self.maxHeight ? head.next(startLevel) : nil
        while let current = node {
            linked[Int(bitPattern: current.reference)] = position
            position += 1
            node = current.next(startLevel)
        }
        let keys = index.keys
        var lastPosition = -1
        for i in 0..<index.count {
            if i > 0 && keys[i] < keys[i - 1] { throw corruption("entry \(i)'s key is below entry \(i - 1)'s") }
            if index.isRetired(i) { continue }
            guard let at = linked[index.references[i]] else {
                throw corruption("entry \(i) is neither retired nor linked on level \(startLevel)")
            }
            guard at > lastPosition else { throw corruption("entry \(i) is out of list order") }
            lastPosition = at
            let node = SkipListNode(UnsafeMutableRawPointer(bitPattern: index.references[i])!)
            guard SkipListSearchIndex.cut(node.prefix, shift: index.shift) == keys[i],
                  SkipListSearchIndex.commonBits(node.prefix, index.common) >= index.shift else {
                throw corruption("entry \(i)'s key is not its node's cut prefix")
            }
        }
        for level in 1..<max(index.levels, 1) {
            let below = (index.base + index.levelOffset(level - 1)).assumingMemoryBound(to: UInt64.self)
            let here = (index.base + index.levelOffset(level)).assumingMemoryBound(to: UInt64.self)
            for j in 0..<index.levelBlocks(level - 1) where here[j] != below[j * 8 + 7] {
                throw corruption("level \(level) key \(j) is not the last key of block \(j) below")
            }
        }
    }
}
