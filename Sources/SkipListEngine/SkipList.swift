// A thread-safe ordered map of byte strings: a skiplist whose nodes are single slab chunks.

import KVCore

/// An ordered map from byte-string keys to byte-string values, sorted by `Comparator`.
///
/// Used directly by `SkipListEngine` and meant to serve as an LSM memtable (keys there are
/// internal keys with their own comparator; entries are only inserted; `seek` + `next`
/// walk them; `approximateMemoryUsage` says when the table is full).
///
/// ## Node layout
///
/// Every node is one `SlabAllocator` chunk; there is no Swift object per node. For a node of
/// height `h` (1...`maxHeight`), byte by byte:
///
///     offset 0            next pointer of level h-1   (8 bytes, 0 = end of level)
///     ...
///     offset 8*(h-1)      next pointer of level 0     (8 bytes)
///     offset 8*h          height h                    (1 byte)   <- the node reference
///     offset 8*h+1        varint keyLength | varint valueLength | key | value  (PackedRecord)
///
/// Next pointers hold node references (the address of the height byte), so level `i`'s
/// pointer is always at `reference - 8*(i+1)` and the record at `reference + 1`, without
/// reading the height. The chunk is `8*h + 1 + PackedRecord.size` bytes, rounded up to a
/// multiple of 8 by the allocator; nothing else is stored (the size is recomputed on free).
///
/// ## Memory per record (16-byte key, 100-byte value: 116 raw bytes)
///
/// Heights are geometric with p = 1/4, so the mean tower is 4/3 pointers. Height 1 needs
/// 8 + 1 + (1 + 1 + 16 + 100) = 127 bytes, a 128-byte chunk; each extra level adds 8. The
/// expected chunk is 128 + 8 * (1/3) ≈ 130.7 bytes, about 1.13x the raw bytes (slab tails
/// and the head node add a fraction of a percent). Values over ~4 KiB go to `malloc`
/// through the same allocator. (Measured, 1M records with jemalloc: 131.1 bytes allocated
/// and 132.3 resident per record, `Benchmarks/reference/memory.sh`.)
///
/// ## Concurrency
///
/// Readers (`value(forKey:)`, `forEach`, `withReadView`) share a `ReadWriteLock`; writers
/// (`insert`, `remove`, `withWriter`) hold it exclusively, so they are serialized and never
/// overlap a read. A LevelDB-style lock-free read path (release/acquire next pointers) was
/// considered and not taken:
/// - `remove` and size-changing replacement unlink and free chunks; without the lock a
///   reader could still be standing on one. Making that safe needs epoch or hazard-pointer
///   reclamation across all reader threads, which this version does not attempt.
/// - In-place replacement of a value would tear under a concurrent reader.
/// - `SkipListEngine` promises consistent scans and atomic batches; lock-free readers would
///   see a batch half applied and a scan interleaved with writes (LevelDB gets both from
///   sequence numbers, which the LSM memtable will have and this map does not).
/// An insert-only LSM memtable could add a lock-free read path later; nodes would then need
/// atomic next pointers and no freeing until the whole table is dropped.
///
/// Closures passed to read or write scopes run with the lock held: they must not call back
/// into the same list (the lock is not recursive).
public final class SkipList<Comparator: KeyComparator>: @unchecked Sendable {
    /// The tallest tower. With p = 1/4, 16 levels serve ~4^16 = 4 billion keys well.
    public static var maxHeight: Int { 16 }

    /// The key order.
    public let comparator: Comparator

    @usableFromInline let lock = ReadWriteLock()
    // Everything below is guarded by `lock` (read: shared, write: exclusive).
    @usableFromInline var allocator = SlabAllocator()
    @usableFromInline var random: SeededRandom
    /// A tower of `maxHeight` pointers with an empty record, allocated outside the slabs.
    @usableFromInline let head: SkipListNode
    /// Levels in use: 1...maxHeight. Levels at or above it are empty.
    @usableFromInline var height = 1
    @usableFromInline var storedCount = 0
    /// Scratch for a writer's search path; writers are exclusive, so one buffer suffices.
    @usableFromInline let predecessors: UnsafeMutablePointer<SkipListNode>

    /// An empty list.
    /// - Parameters:
    ///   - comparator: the key order.
    ///   - random: the source of tower heights; a fixed seed gives a reproducible shape.
    public init(comparator: Comparator, random: SeededRandom) {
        self.comparator = comparator
        self.random = random
        let headSize = SkipListNode.size(height: Self.maxHeight, keyCount: 0, valueCount: 0)
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: headSize, alignment: 8)
        head = SkipListNode.initialize(chunk: chunk, height: Self.maxHeight,
                                       key: UnsafeRawBufferPointer(start: nil, count: 0),
                                       value: UnsafeRawBufferPointer(start: nil, count: 0))
        predecessors = .allocate(capacity: Self.maxHeight)
        predecessors.initialize(repeating: head, count: Self.maxHeight)
    }

    deinit {
        head.chunk.deallocate()
        predecessors.deallocate()
        // The allocator's own deinit frees the slabs.
    }

    // MARK: - Public operations (one lock acquisition each)

    /// Stores `value` under `key`, replacing any previous value.
    /// - Returns: true if the key was new, false if a value was replaced.
    @inlinable
    @discardableResult
    public func insert(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        lock.withWriteLock { insertLocked(key, value) }
    }

    /// Removes `key`.
    /// - Returns: true if the key was present.
    @inlinable
    @discardableResult
    public func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        lock.withWriteLock { removeLocked(key) }
    }

    /// Looks up `key` and hands the stored value, in place, to `body`.
    /// - Returns: `body`'s result, or nil if the key is absent.
    @inlinable
    public func value<R, E: Error>(forKey key: UnsafeRawBufferPointer,
                                   _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R? {
        try lock.withReadLock { () throws(E) -> R? in try valueLocked(forKey: key, body) }
    }

    /// Visits records with keys `>= start` in comparator order until `visit` returns false,
    /// as one consistent view (the read lock is held throughout).
    @inlinable
    public func forEach<E: Error>(from start: UnsafeRawBufferPointer,
                                  _ visit: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(E) -> Bool) throws(E) {
        try lock.withReadLock { () throws(E) in
            var node = findGreaterOrEqual(start, recordingPredecessors: false)
            while let current = node {
                let (key, value) = current.record
                guard try visit(key, value) else { return }
                node = current.next(0)
            }
        }
    }

    /// Runs `body` with shared read access: any number of lookups and cursors see one state.
    @inlinable
    public func withReadView<R, E: Error>(_ body: (borrowing ReadView) throws(E) -> R) throws(E) -> R {
        try lock.withReadLock { () throws(E) -> R in try body(ReadView(list: self)) }
    }

    /// Runs `body` with exclusive write access: its changes appear to readers all at once.
    @inlinable
    public func withWriter<R, E: Error>(_ body: (borrowing Writer) throws(E) -> R) throws(E) -> R {
        try lock.withWriteLock { () throws(E) -> R in try body(Writer(list: self)) }
    }

    /// Number of records.
    public var count: Int { lock.withReadLock { storedCount } }

    /// Bytes held by nodes (chunk sizes), for deciding when a memtable is full.
    public var approximateMemoryUsage: Int { lock.withReadLock { allocator.bytesInUse } }

    /// Bytes held by nodes, and bytes obtained from the system (slabs and large values).
    public var memoryUsage: (bytesInUse: Int, bytesReserved: Int) {
        lock.withReadLock { (allocator.bytesInUse, allocator.bytesReserved) }
    }

    /// Removes every record.
    /// - Parameter keepingCapacity: keep the slabs for reuse instead of returning them.
    public func removeAll(keepingCapacity: Bool = false) {
        lock.withWriteLock {
            if keepingCapacity {
                var node = head.next(0)
                while let current = node {
                    node = current.next(0)
                    allocator.deallocate(current.chunk, size: current.size)
                }
            } else {
                allocator.releaseAll()
            }
            for level in 0..<Self.maxHeight { head.setNext(level, nil) }
            height = 1
            storedCount = 0
        }
    }

    // MARK: - Core algorithms (caller holds the lock)

    /// The first node whose key is `>= key`, or nil. With `recordingPredecessors`, also
    /// stores in `predecessors[level]` the last node before `key` on every level in use
    /// (the caller holds the write lock).
    @inlinable
    func findGreaterOrEqual(_ key: UnsafeRawBufferPointer, recordingPredecessors: Bool) -> SkipListNode? {
        var node = head
        var level = height - 1
        while true {
            let next = node.next(level)
            if let candidate = next, comparator.compare(candidate.key, key) < 0 {
                node = candidate
                continue
            }
            if recordingPredecessors { predecessors[level] = node }
            if level == 0 { return next }
            level -= 1
        }
    }

    @inlinable
    func valueLocked<R, E: Error>(forKey key: UnsafeRawBufferPointer,
                                  _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R? {
        guard let node = findGreaterOrEqual(key, recordingPredecessors: false) else { return nil }
        let (nodeKey, value) = node.record
        guard comparator.compare(nodeKey, key) == 0 else { return nil }
        return try body(value)
    }

    @inlinable
    func insertLocked(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        if let found = findGreaterOrEqual(key, recordingPredecessors: true),
           comparator.compare(found.key, key) == 0 {
            replaceLocked(found, key: key, value: value)
            return false
        }
        let nodeHeight = randomHeight()
        if nodeHeight > height {
            for level in height..<nodeHeight { predecessors[level] = head }
            height = nodeHeight
        }
        let size = SkipListNode.size(height: nodeHeight, keyCount: key.count, valueCount: value.count)
        let node = SkipListNode.initialize(chunk: allocator.allocate(size), height: nodeHeight, key: key, value: value)
        for level in 0..<nodeHeight {
            let before = predecessors[level]
            node.setNext(level, before.next(level))
            before.setNext(level, node)
        }
        storedCount += 1
        return true
    }

    /// Gives `node` (whose key equals `key`) a new value; `predecessors` is filled in.
    /// In place when the chunk size is unchanged, else a new chunk of the same height takes
    /// its place on every level. Safe only because readers are excluded.
    @inlinable
    func replaceLocked(_ node: SkipListNode, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let nodeHeight = node.height
        let oldSize = node.size
        let newSize = SkipListNode.size(height: nodeHeight, keyCount: key.count, valueCount: value.count)
        if SlabAllocator.chunkSize(for: oldSize) == SlabAllocator.chunkSize(for: newSize) {
            // The caller's key, not node.key: a change in the value's varint length shifts the key,
            // and copying the stored key onto itself shifted by a byte would corrupt it.
            PackedRecord.write(key: key, value: value, to: node.reference + 1)
            return
        }
        // The stored key is the one kept: equal under the comparator, maybe not bytewise.
        let replacement = SkipListNode.initialize(chunk: allocator.allocate(newSize), height: nodeHeight,
                                                  key: key, value: value)
        for level in 0..<nodeHeight {
            replacement.setNext(level, node.next(level))
            predecessors[level].setNext(level, replacement)
        }
        allocator.deallocate(node.chunk, size: oldSize)
    }

    @inlinable
    func removeLocked(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let found = findGreaterOrEqual(key, recordingPredecessors: true),
              comparator.compare(found.key, key) == 0 else { return false }
        for level in 0..<found.height {
            predecessors[level].setNext(level, found.next(level))
        }
        allocator.deallocate(found.chunk, size: found.size)
        storedCount -= 1
        while height > 1 && head.next(height - 1) == nil { height -= 1 }
        return true
    }

    /// A height from 1...maxHeight, each level kept with probability 1/4 (two random bits).
    @inlinable
    func randomHeight() -> Int {
        var bits = random.next()
        var nodeHeight = 1
        while nodeHeight < Self.maxHeight && bits & 3 == 0 {
            nodeHeight += 1
            bits >>= 2
        }
        return nodeHeight
    }
}

extension SkipList where Comparator == BytewiseComparator {
    /// An empty list in bytewise key order.
    /// - Parameter random: the source of tower heights.
    public convenience init(random: SeededRandom = SeededRandom(seed: 0x5EED)) {
        self.init(comparator: BytewiseComparator(), random: random)
    }
}
