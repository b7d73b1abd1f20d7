// Forward iteration over internal keys, and the merge of many iterators into one ordered stream.

import KVCore

/// A forward walk over entries in internal-key order. Positioned when made; `key` and
/// `value` stay valid until the next call to `next()`.
protocol InternalIterator: AnyObject {
    var isValid: Bool { get }
    var key: UnsafeRawBufferPointer { get }
    var value: UnsafeRawBufferPointer { get }
    func next() throws(EngineError)
}

/// Merges children in internal-key order; among equal user keys the newest entry (highest
/// sequence number) comes first, because the internal key order says so. With a few dozen
/// children at most (memtables, L0 files, one per level), a linear scan for the smallest is
/// cheaper than a heap.
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    /// Each child's current key (empty base address = exhausted); a child's key stays valid
    /// until that child moves, so only the child just advanced is asked again.
    private var keys: [UnsafeRawBufferPointer]
    private var current: Int = -1
    private let comparator = InternalKeyComparator()

    init(_ children: [any InternalIterator]) {
        self.children = children
        keys = children.map { $0.isValid ? $0.key : UnsafeRawBufferPointer(start: nil, count: 0) }
        findSmallest()
    }

    var isValid: Bool { current >= 0 }
    var key: UnsafeRawBufferPointer { keys[current] }
    var value: UnsafeRawBufferPointer { children[current].value }

    func next() throws(EngineError) {
        let child = children[current]
        try child.next()
        keys[current] = child.isValid ? child.key : UnsafeRawBufferPointer(start: nil, count: 0)
        findSmallest()
    }

    private func findSmallest() {
        var best = -1
        keys.withUnsafeBufferPointer { keys in
            for i in 0..<keys.count where keys[i].baseAddress != nil {
                if best < 0 || comparator.compare(keys[i], keys[best]) < 0 { best = i }
            }
        }
        current = best
    }
}

/// Walks the files of one level of L1+ (sorted, not overlapping) as one sequence, opening
/// each file's table as the walk reaches it.
final class LevelIterator: InternalIterator {
    private let files: [FileMetaData]
    private var index: Int
    private var table: TableIterator?
    private let cache: BlockCache

    /// Positioned on the first entry `>= target` (internal key), or the first entry if nil.
    init(files: [FileMetaData], target: UnsafeRawBufferPointer?, cache: BlockCache) throws(EngineError) {
        self.files = files
        self.cache = cache
        if let target {
            index = Version.findFile(files, target)
        } else {
            index = 0
        }
        if index < files.count {
            table = try TableIterator(table: try files[index].table(), target: target, cache: cache)
            try skipEmpty()
        }
    }

    var isValid: Bool { table?.isValid ?? false }
    var key: UnsafeRawBufferPointer { table!.key }
    var value: UnsafeRawBufferPointer { table!.value }

    func next() throws(EngineError) {
        try table!.next()
        try skipEmpty()
    }

    private func skipEmpty() throws(EngineError) {
        while let t = table, !t.isValid {
            index += 1
            if index >= files.count { table = nil; return }
            table = try TableIterator(table: try files[index].table(), target: nil, cache: cache)
        }
    }
}
