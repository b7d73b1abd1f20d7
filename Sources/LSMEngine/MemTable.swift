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
/// list runs in `.insertOnly` mode: readers take no lock and no epoch, and a node lives as long
/// as the table. Writers are serialized by the engine's write group (and the list's write lock).
final class MemTable: @unchecked Sendable {
    let list: SkipList<InternalKeyComparator>
    /// The write-ahead log holding this table's entries.
    let logNumber: UInt64

    init(logNumber: UInt64, seed: UInt64) {
        self.logNumber = logNumber
        // p = 1/4: the memtable keeps LevelDB's tower shape and memory (its reads mostly go to
        // tables; the skiplist engine is the one tuned for point reads).
        list = SkipList(comparator: InternalKeyComparator(), random: SeededRandom(seed: seed), mode: .insertOnly,
                        towerGrowth: .quarter)
    }

    /// Bytes counted against `LSMOptions.memtableSize`: the skiplist's node bytes less its
    /// search prefixes and hints (`SkipList.expectedSearchPrefixBytesPerRecord`), so the budget
    /// keeps meaning what it meant before the skiplist carried them: the same records per
    /// flush, the same table sizes and compaction shape (the real memory is ~21 B/entry more).
    var approximateMemoryUsage: Int {
        list.approximateMemoryUsage - list.count * list.expectedSearchPrefixBytesPerRecord
    }
    var isEmpty: Bool { list.count == 0 }

    /// Looks up the newest entry of `userKey` visible at the sequence number in `lookupKey`
    /// (`InternalKey.withLookupKey`).
    func get(_ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) -> LookupResult {
        let cursor = list.insertOnlySeek(lookupKey)
        guard cursor.isValid else { return .notFound }
        let key = cursor.key
        guard ByteOrder.equal(InternalKey.userKey(key), userKey) else { return .notFound }
        if InternalKey.type(key) == .deletion { return .deleted }
        body(cursor.value)
        return .found
    }
}
