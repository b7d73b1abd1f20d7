// The in-memory ordered engine `skiplist`: a SkipList in bytewise order behind KeyValueEngine.

import KVCore
import Synchronization

/// An in-memory, ordered key-value engine over one `SkipList`.
///
/// Reads share the list's read lock; writes, batches and `close()` take its write lock, so
/// a batch is atomic and a scan sees one consistent state. The closed flag is set under the
/// write lock and checked under the lock of every operation, so no call can see the list
/// after `close()` has freed it.
public final class SkipListEngine: KeyValueEngine {
    public let name = "skiplist"
    public let capabilities: EngineCapabilities = [.storesData, .orderedScan, .atomicBatch]

    private let list: SkipList<BytewiseComparator>
    private let isClosed = Atomic<Bool>(false)

    /// An empty engine.
    /// - Parameter seed: seeds the tower heights, so a run's memory layout is reproducible.
    public init(seed: UInt64 = 0x5EED) {
        list = SkipList(comparator: BytewiseComparator(), random: SeededRandom(seed: seed))
    }

    /// Bytes held by records (chunk sizes), and bytes obtained from the system.
    public var memoryUsage: (bytesInUse: Int, bytesReserved: Int) { list.memoryUsage }

    @inline(__always)
    private func checkOpen() throws(EngineError) {
        if isClosed.load(ordering: .relaxed) { throw .closed(engine: name) }
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        try list.withReadView { (view) throws(EngineError) -> R? in
            try checkOpen()
            return view.value(forKey: key, body)
        }
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try list.withWriter { (writer) throws(EngineError) in
            try checkOpen()
            writer.insert(key, value)
        }
    }

    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        try list.withWriter { (writer) throws(EngineError) -> Bool in
            try checkOpen()
            return writer.remove(key)
        }
    }

    public func scan(from start: UnsafeRawBufferPointer, limit: Int,
                     _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try list.withReadView { (view) throws(EngineError) in
            try checkOpen()
            var cursor = view.seek(start)
            var visited = 0
            while visited < limit, cursor.isValid {
                guard visit(cursor.key, cursor.value) else { return }
                visited += 1
                cursor.next()
            }
        }
    }

    public func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) {
        try list.withWriter { (writer) throws(EngineError) in
            try checkOpen()
            batch.forEach { operation in
                switch operation {
                case let .put(key, value): writer.insert(key, value)
                case let .delete(key): writer.remove(key)
                }
            }
        }
    }

    public func flush() throws(EngineError) {
        try checkOpen()
    }

    public func close() throws(EngineError) {
        // Marked closed under the write lock: every later operation sees the flag under its
        // own lock before touching the list, which is then emptied and its slabs returned.
        let wasOpen = list.withWriter { _ in !isClosed.exchange(true, ordering: .relaxed) }
        if wasOpen { list.removeAll(keepingCapacity: false) }
    }

    public var count: Int? { list.count }

    public func checkInvariants() throws(EngineError) {
        try checkOpen()
        try list.checkInvariants()
    }
}
