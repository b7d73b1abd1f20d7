// Forward iteration over internal keys, and the merge of many iterators into one ordered stream.

import KVCore
import SkipListEngine

/// A forward walk over entries in internal-key order. Positioned when made; `key` and
/// `value` stay valid until the next call to `next()`.
protocol InternalIterator: AnyObject {
    var isValid: Bool { get }
    var key: UnsafeRawBufferPointer { get }
    var value: UnsafeRawBufferPointer { get }
    func next() throws(EngineError)
}

/// Merges memtables and tables in internal-key order; among equal user keys the newest entry
/// (highest sequence number) comes first, because the internal key order says so.
///
/// Built for the per-step cost of a long scan: the children are of two concrete kinds held
/// in raw arrays, memtable cursors (plain structs over an insert-only skiplist) and
/// `TableIterator`s (a final class, referenced unowned(unsafe) while `tables` keeps them
/// alive), so a step makes no dynamic dispatch and no retain or release. Each child's current
/// key is cached as a borrowed buffer (valid until that child moves), and a binary min-heap over
/// the children orders them: a step moves the smallest child and sifts it down, about
/// 2 log2(children) comparisons of borrowed bytes where a linear scan took children - 1.
final class MergingIterator {
    private struct TableReference { unowned(unsafe) let iterator: TableIterator }

    /// Keep the memtables (whose nodes the cursors point into) and the table iterators alive.
    private let memtables: [MemTable]
    private let tables: [TableIterator]
    private let memCount: Int
    private let childCount: Int
    private let memCursors: UnsafeMutablePointer<SkipList<InternalKeyComparator>.Cursor>
    private let tableReferences: UnsafeMutablePointer<TableReference>
    /// The current key of each child (children first the memtables, then the tables).
    private let keys: UnsafeMutablePointer<UnsafeRawBufferPointer>
    /// Child indices ordered as a binary min-heap by `keys`.
    private let heap: UnsafeMutablePointer<Int>
    private var heapCount = 0
    private let comparator = InternalKeyComparator()

    /// Merges `memtables` (positioned at the first entry `>= target`, or their first entry) and
    /// `tables` (already positioned).
    init(memtables: [MemTable], target: UnsafeRawBufferPointer?, tables: [TableIterator]) {
        self.memtables = memtables
        self.tables = tables
        memCount = memtables.count
        childCount = memtables.count + tables.count
        memCursors = .allocate(capacity: max(memCount, 1))
        for (i, memtable) in memtables.enumerated() {
            let cursor = target.map { memtable.list.insertOnlySeek($0) } ?? memtable.list.insertOnlyFirst()
            (memCursors + i).initialize(to: cursor)
        }
        tableReferences = .allocate(capacity: max(tables.count, 1))
        for (i, table) in tables.enumerated() { (tableReferences + i).initialize(to: TableReference(iterator: table)) }
        keys = .allocate(capacity: max(childCount, 1))
        keys.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: max(childCount, 1))
        heap = .allocate(capacity: max(childCount, 1))
        for child in 0..<childCount where childIsValid(child) {
            keys[child] = childKey(child)
            heap[heapCount] = child
            heapCount += 1
        }
        if heapCount > 1 {
            for i in stride(from: heapCount / 2 - 1, through: 0, by: -1) { siftDown(i) }
        }
    }

    deinit {
        memCursors.deinitialize(count: memCount)
        memCursors.deallocate()
        tableReferences.deinitialize(count: tables.count)
        tableReferences.deallocate()
        keys.deallocate()
        heap.deallocate()
    }

    var isValid: Bool { heapCount > 0 }
    /// The smallest current key. Requires `isValid`.
    var key: UnsafeRawBufferPointer { keys[heap[0]] }
    /// Its value. Requires `isValid`.
    var value: UnsafeRawBufferPointer {
        let child = heap[0]
        return child < memCount ? memCursors[child].value : tableReferences[child - memCount].iterator.value
    }

    /// Moves past the smallest entry. Requires `isValid`.
    func next() throws(EngineError) {
        let child = heap[0]
        if child < memCount {
            memCursors[child].next()
        } else {
            try tableReferences[child - memCount].iterator.next()
        }
        if childIsValid(child) {
            keys[child] = childKey(child)
        } else {
            heapCount -= 1
            heap[0] = heap[heapCount]
        }
        if heapCount > 1 { siftDown(0) }
    }

    @inline(__always)
    private func childIsValid(_ child: Int) -> Bool {
        child < memCount ? memCursors[child].isValid : tableReferences[child - memCount].iterator.isValid
    }

    @inline(__always)
    private func childKey(_ child: Int) -> UnsafeRawBufferPointer {
        child < memCount ? memCursors[child].key : tableReferences[child - memCount].iterator.key
    }

    /// True if child `a`'s key sorts before child `b`'s (ties, which distinct internal keys do
    /// not have, go to the lower index).
    @inline(__always)
    private func less(_ a: Int, _ b: Int) -> Bool {
        let order = comparator.compare(keys[a], keys[b])
        return order < 0 || (order == 0 && a < b)
    }

    private func siftDown(_ start: Int) {
        var i = start
        let moving = heap[i]
        while true {
            let left = 2 * i + 1
            guard left < heapCount else { break }
            var smaller = left
            let right = left + 1
            if right < heapCount && less(heap[right], heap[left]) { smaller = right }
            guard less(heap[smaller], moving) else { break }
            heap[i] = heap[smaller]
            i = smaller
        }
        heap[i] = moving
    }
}
