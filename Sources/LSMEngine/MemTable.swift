// The in-memory write buffer: a skiplist of internal keys, made immutable when full and flushed.

import KVCore
import SkipListEngine

/// The outcome of looking a user key up in one component (memtable or table). Not generic
/// over the caller's result type, so the read path needs no generic metadata at run time.
enum LookupResult {
    /// The newest visible entry is a value; `body` was applied to it.
    case found
    /// The newest visible entry is a tombstone: the key is absent, stop looking.
    case deleted
    /// This component has no entry for the key: look in older ones.
    case notFound
}

/// Entries are only inserted (internal keys are unique), never replaced or removed, so the
/// list's nodes live as long as the table. Writers are serialized by the engine's write group.
final class MemTable: @unchecked Sendable {
    let list: SkipList<InternalKeyComparator>
    /// The write-ahead log holding this table's entries.
    let logNumber: UInt64

    init(logNumber: UInt64, seed: UInt64) {
        self.logNumber = logNumber
        list = SkipList(comparator: InternalKeyComparator(), random: SeededRandom(seed: seed))
    }

    var approximateMemoryUsage: Int { list.approximateMemoryUsage }
    var isEmpty: Bool { list.count == 0 }

    /// Looks up the newest entry of `userKey` visible at the sequence number in `lookupKey`
    /// (`InternalKey.withLookupKey`).
    func get(_ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) -> LookupResult {
        list.withReadView { view -> LookupResult in
            let cursor = view.seek(lookupKey)
            guard cursor.isValid else { return .notFound }
            let key = cursor.key
            guard ByteOrder.equal(InternalKey.userKey(key), userKey) else { return .notFound }
            if InternalKey.type(key) == .deletion { return .deleted }
            body(cursor.value)
            return .found
        }
    }
}

/// Walks a memtable without holding its lock between steps: it copies up to `chunkSize` entries
/// under one read view, lets the lock go, and serves them; when they run out it seeks again just
/// past the last one copied. Correct because a memtable only grows and its internal keys are
/// unique: an entry inserted meanwhile either sorts after the resume point (seen, and filtered
/// by sequence number if newer than the scan) or before it (a key already passed). The walk
/// keeps the memtable alive. `key` and `value` stay valid until the next `next()`.
final class MemTableIterator: InternalIterator {
    static let chunkSize = 128
    private let memtable: MemTable
    /// The copied entries: keys and values back to back, with their end offsets.
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    private var ends: [(key: Int, value: Int)] = []
    private var index = 0
    private var exhausted = false
    private var resume: [UInt8] = []

    /// Positioned on the first entry `>= target` (an internal key), or the first entry if nil.
    init(memtable: MemTable, target: UnsafeRawBufferPointer?) {
        self.memtable = memtable
        capacity = 4096
        storage = .allocate(byteCount: capacity, alignment: 8)
        fill(from: target, skippingEqual: false)
    }

    deinit { storage.deallocate() }

    var isValid: Bool { index < ends.count }

    var key: UnsafeRawBufferPointer {
        let start = index == 0 ? 0 : ends[index - 1].value
        return UnsafeRawBufferPointer(start: storage + start, count: ends[index].key - start)
    }

    var value: UnsafeRawBufferPointer {
        let start = ends[index].key
        return UnsafeRawBufferPointer(start: storage + start, count: ends[index].value - start)
    }

    func next() throws(EngineError) {
        index += 1
        guard index == ends.count, !exhausted else { return }
        let last = index - 1
        let start = last == 0 ? 0 : ends[last - 1].value
        resume.removeAll(keepingCapacity: true)
        resume.append(contentsOf: UnsafeRawBufferPointer(start: storage + start, count: ends[last].key - start))
        resume.withUnsafeBytes { fill(from: $0, skippingEqual: true) }
    }

    /// Copies the next chunk, from the first entry `>= target` (`> target` if `skippingEqual`).
    private func fill(from target: UnsafeRawBufferPointer?, skippingEqual: Bool) {
        ends.removeAll(keepingCapacity: true)
        index = 0
        var used = 0
        memtable.list.withReadView { view in
            var cursor: SkipList<InternalKeyComparator>.Cursor
            if let target { cursor = view.seek(target) } else { cursor = view.first() }
            if skippingEqual, let target, cursor.isValid, ByteOrder.equal(cursor.key, target) { cursor.next() }
            while cursor.isValid && ends.count < Self.chunkSize {
                let key = cursor.key, value = cursor.value
                let needed = used + key.count + value.count
                if needed > capacity {
                    var grown = capacity * 2
                    while grown < needed { grown *= 2 }
                    let larger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 8)
                    larger.copyMemory(from: storage, byteCount: used)
                    storage.deallocate()
                    storage = larger
                    capacity = grown
                }
                if key.count > 0 { (storage + used).copyMemory(from: key.baseAddress!, byteCount: key.count) }
                used += key.count
                if value.count > 0 { (storage + used).copyMemory(from: value.baseAddress!, byteCount: value.count) }
                used += value.count
                ends.append((used - value.count, used))
                cursor.next()
            }
            exhausted = !cursor.isValid
        }
    }
}
