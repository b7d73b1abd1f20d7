// A thread-safe ordered map of byte strings: a skiplist whose nodes are single slab chunks.

import KVCore
import Synchronization

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
///     offset 0            level h-1: next pointer, then hint (successor's key prefix, 16 bytes)
///     ...
///     offset 24*(h-2)     level 1:   next pointer, hint            (24 bytes per level above 0)
///     offset 24*(h-1)     level 0:   next pointer                  (8 bytes, 0 = end of level)
///     offset 24*h-16      own key prefix, two big-endian words     (16 bytes) <- the node reference
///     offset 24*h         height h                                 (1 byte)
///     offset 24*h+1       varint keyLength | varint valueLength | key | value  (PackedRecord)
///
/// Next pointers hold node references (the address of the own prefix), so level 0's pointer
/// is at `reference - 8`, level `i`'s at `reference - 8 - 24*i`, the height at `reference + 16`
/// and the record at `reference + 17`, without reading the height. The chunk is rounded up to a
/// multiple of 8 by the allocator; nothing else is stored (the size is recomputed on free).
///
/// Why the prefixes (`KeyComparator.prefix`: for bytewise keys their first 16 bytes): a search
/// step asks "is the successor before the target?". The hint next to the pointer answers "no"
/// without loading the successor at all, and the successor's own prefix, beside its level-0
/// pointer, answers most other steps with two integer comparisons instead of decoding the record
/// and comparing keys (only ties on 16 bytes compare the keys). 16 bytes rather than 8 because
/// zero-padded decimal keys such as the bench's share their first 8 bytes.
///
/// ## Memory per record (16-byte key, 100-byte value: 116 raw bytes)
///
/// Heights are geometric with p = 1/2, so the mean tower has 1 level above level 0. Height 1
/// needs 8 + 16 + 1 + (1 + 1 + 16 + 100) = 143 bytes, a 144-byte chunk; each extra level adds 24.
/// The expected chunk is 144 + 24 = 168 bytes, about 1.45x the raw bytes (it was 130.7, 1.13x,
/// with p = 1/4 and no prefixes): ~37 bytes per record buy a search that touches fewer cache
/// lines (results/read-paths.md, "Skiplist readrandom, third pass"). Values over ~4 KiB go to
/// `malloc` through the same allocator.
///
/// Why p = 1/2 (LevelDB uses 1/4): a step that stops on a level above 0 costs only the hint,
/// already in the current node's cache line, so what a search pays for is its forward moves,
/// each one a new node: about (1-p)/p per level over log_{1/p}(n) levels, i.e. log2(n) for
/// p = 1/2 against 1.5 log2(n) for p = 1/4. Measured: 23.4 against 26.8 simulated D1 misses
/// per read at 50k keys.
///
/// ## Search index (where a reader's descent starts)
///
/// With one key per node a search from the head makes about log2(n) forward moves, each a new
/// node and so a cache miss, as many as a red-black tree's node visits (third pass: 31.9 against
/// std::map's 30.7 simulated D1 misses per read at 300k keys). To do better the upper levels
/// are mirrored in a `SkipListSearchIndex`: an immutable static search tree over the nodes of
/// height ≥ H (H = `SearchIndexPolicy.level`, 3 by default: n/4 entries with p = 1/2, n/16 with
/// p = 1/4; H = 4, 5, 6 measured fewer-entries-more-misses), eight 64-bit keys per cache line (the entries' prefixes with their common
/// leading bits cut off). A reader searches it for the last entry whose prefix is strictly below
/// the target's and runs the ordinary descent from that node at level H-1 instead of from the
/// head at the top level. Writers keep starting from the head (they need every level's
/// predecessor). Measured (results/read-paths-skip18d.md): 31.8 → 10.8 simulated D1 misses and
/// 1,606 → 1,215 instructions per read at 300k keys; ~4.3 allocated bytes per record.
///
/// Why any indexed node is a correct start: its key is below the target (a prefix strictly
/// below implies the key is, `KeyComparator.prefix`'s contract), and it is on levels 0..<H, so
/// the descent from it at level H-1 finds the same node a descent from the head finds, as long
/// as the node is still linked. A stale index (tall nodes inserted since the build are not in
/// it) only costs forward steps on level H-1.
///
/// - `.insertOnly`: nodes are never unlinked, so every entry stays a valid start. The index is
///   rebuilt (under the write lock, a walk of level H-1: O(n/2^(H-1))) after the list has grown
///   by half since the last build; replaced indexes are kept until the list goes (its readers
///   take no epoch), a geometric series under 3x the last index.
/// - `.reclaiming`: a reader must never start from an unlinked node (it would miss nodes linked
///   after the unlink) nor from freed memory. Before a writer's first unlinking store for a node
///   of height ≥ H it sets that node's *retired* bit in every index readers may still hold (the
///   published one and replaced ones awaiting their grace period); the unlinking stores are
///   releases, so a reader that could need anything linked after the unlink also sees the bit
///   (acquire), and skips back to an earlier entry (at most 4) or to the head. A bit seen clear
///   inside a read section also means the node is not freed: freeing needs the epoch to move
///   twice past the unlink, and a reader that entered after the first move sees the bit. The
///   index is rebuilt after 1/4 of n inserts or 1/8 of its entries retired (amortized O(1) per
///   write); the replaced one is published over with a release store and freed through the
///   epoch bags like a node, so rebuilds never block readers and memory stays bounded.
///
/// ## Concurrency: readers never wait
///
/// Writers (`insert`, `remove`, `withWriter`, `removeAll`) take the list's write lock, so they
/// are serialized among themselves. Readers (`value(forKey:)`, `forEach`, `withReadView` and its
/// cursors) take no lock at all: next pointers are atomic (`SkipListNode`), a new node is filled
/// in completely and then published with release stores, bottom level first, and readers
/// follow pointers with acquire loads. A reader therefore sees every node either fully linked
/// on a level or not at all, and a writer never waits for a reader, however long its scan.
///
/// Unlinking is the hard part: a reader may be standing on a node the writer has just taken out.
/// An unlinked node keeps its own next pointers (a reader on it walks on to nodes that were its
/// successors), and its memory is only freed once no reader can still hold it, told by an
/// epoch-based reclaimer (`EpochReclaimer`): unlinked chunks wait in one of two bags by epoch
/// parity and are freed when the epoch has moved twice past theirs. Readers enter and leave
/// an epoch (two atomic operations on a shared counter, what the former read lock cost); a
/// reader that stays long only delays the freeing, never a write. Epochs were chosen over
/// tombstones-only (memory would grow without bound under deletes and overwrites) and over
/// hazard pointers (a publish-and-validate per node step on the hot read path).
///
/// Two modes:
/// - `.reclaiming` (the default): replacement and removal allowed. A replaced value goes into
///   a new node that takes the old one's place on every level (top level first, level 0 last,
///   so a reader finds the old or the new record, never a torn one); the old node is retired.
/// - `.insertOnly` (the LSM memtable): keys are unique and never removed, so nothing is ever
///   freed before the whole list goes; readers skip the epoch entirely, and cursors from
///   `insertOnlySeek`/`insertOnlyFirst` stay valid for the list's lifetime.
///
/// Each operation on its own is atomic; a *sequence* of writes is not seen atomically by a
/// concurrent reader. `SkipListEngine` gets atomic batches and consistent scans from
/// sequence numbers on top of this list (multi-version keys, as LevelDB's memtable does).
///
/// Closures passed to write scopes run with the write lock held: they must not write to the
/// same list again (the lock is not recursive).
public final class SkipList<Comparator: KeyComparator>: @unchecked Sendable {
    /// What writers may do to existing keys, and so whether readers need epochs.
    public enum Mode: Sendable {
        /// Keys may be replaced and removed; unlinked nodes are freed after an epoch grace.
        case reclaiming
        /// Every key is inserted once and never removed (a memtable of unique internal keys).
        case insertOnly
    }

    /// The tallest tower. With p = 1/2, 20 levels serve ~2^20 = 1M keys with no crowding;
    /// beyond that the top level holds n/2^19 nodes (10 at 5M keys), a few more steps there.
    public static var maxHeight: Int { 20 }

    /// How likely a tower is to grow one more level.
    public enum TowerGrowth: Sendable {
        /// p = 1/2: the fewest forward moves per search (the default; see "Why p = 1/2").
        case half
        /// p = 1/4 (LevelDB's): shorter towers, less memory, more forward moves per search.
        case quarter
    }

    /// Random bits consumed per level of `randomHeight`: 1 for p = 1/2, 2 for p = 1/4.
    @usableFromInline let levelBits: Int

    /// Bytes a node spends, on average, on search prefixes and hints: its own 16-byte prefix
    /// plus a 16-byte hint per level above 0 (1 level on average with p = 1/2, 1/3 with 1/4).
    /// For callers that budget memory in record bytes (the LSM memtable's flush threshold).
    public var expectedSearchPrefixBytesPerRecord: Int { levelBits == 1 ? 32 : 21 }

    /// The key order.
    public let comparator: Comparator
    /// True for `.insertOnly` lists (readers then skip the epoch).
    public let isInsertOnly: Bool

    @usableFromInline let writeLock = Lock()
    @usableFromInline let reclaimer = EpochReclaimer()
    // Guarded by `writeLock`. @exclusivity(unchecked): the lock already makes every access
    // exclusive, and the dynamic check (swift_beginAccess, ~70 instructions) ran several times
    // per write.
    @usableFromInline @exclusivity(unchecked) var allocator = SlabAllocator()
    @usableFromInline @exclusivity(unchecked) var random: SeededRandom
    /// Unlinked nodes waiting for readers to move on, by the parity of the epoch they were
    /// unlinked in.
    @usableFromInline @exclusivity(unchecked) var retired: (even: [SkipListNode], odd: [SkipListNode]) = ([], [])
    /// A tower of `maxHeight` pointers with an empty record, allocated outside the slabs.
    @usableFromInline let head: SkipListNode
    /// Scratch for a writer's search path; writers are exclusive, so one buffer suffices.
    @usableFromInline let predecessors: UnsafeMutablePointer<SkipListNode>
    // Written by the writer, read by anyone without the lock.
    /// Levels in use: 1...maxHeight. Levels at or above it are empty. Relaxed: a reader that
    /// sees a stale height starts a level too high or too low, and both are correct.
    @usableFromInline let heightCell = Atomic<Int>(1)
    @usableFromInline let countCell = Atomic<Int>(0)
    @usableFromInline let bytesInUseCell = Atomic<Int>(0)
    /// The published search index (`SkipListSearchIndex` base address bits), 0 for none.
    /// Release store by the writer that builds it, acquire load by readers.
    @usableFromInline let indexCell = Atomic<Int>(0)
    // Search index bookkeeping, guarded by `writeLock` (see "Search index").
    @usableFromInline @exclusivity(unchecked) var indexPolicy: SearchIndexPolicy
    @usableFromInline @exclusivity(unchecked) var indexState = SearchIndexState()

    /// An empty list.
    /// - Parameters:
    ///   - comparator: the key order.
    ///   - random: the source of tower heights; a fixed seed gives a reproducible shape.
    ///   - mode: `.insertOnly` when keys are never replaced or removed (readers then skip the
    ///     epoch; inserting a present key keeps the first value, which must equal the new one (a
    ///     debug assertion checks it), and removing is a programming
    ///     error that stops the process).
    ///   - towerGrowth: the level probability (p = 1/2 unless memory matters more than reads).
    ///   - searchIndex: which nodes the search index covers; nil for the default, the nodes of
    ///     height ≥ 3 (about n/4 of them with p = 1/2, n/16 with p = 1/4); `.off` for none.
    public init(comparator: Comparator, random: SeededRandom, mode: Mode = .reclaiming, towerGrowth: TowerGrowth = .half,
                searchIndex: SearchIndexPolicy? = nil) {
        self.levelBits = towerGrowth == .half ? 1 : 2
        // An insert-only list keeps its replaced indexes (no epochs to free them by), so it
        // rebuilds after growing by half rather than a quarter: their total stays under 3x the last.
        self.indexPolicy = searchIndex ?? SearchIndexPolicy(level: 3,
                                                            rebuildAfterInsertFraction: mode == .insertOnly ? 0.5 : 0.25)
        self.comparator = comparator
        self.random = random
        self.isInsertOnly = mode == .insertOnly
        let headSize = SkipListNode.size(height: Self.maxHeight, keyCount: 0, valueCount: 0)
        let chunk = UnsafeMutableRawPointer.allocate(byteCount: headSize, alignment: 8)
        head = SkipListNode.initialize(chunk: chunk, height: Self.maxHeight, prefix: KeyPrefix(high: 0, low: 0),
                                       key: UnsafeRawBufferPointer(start: nil, count: 0),
                                       value: UnsafeRawBufferPointer(start: nil, count: 0))
        predecessors = .allocate(capacity: Self.maxHeight)
        predecessors.initialize(repeating: head, count: Self.maxHeight)
        if indexPolicy.level > 1 {
            indexState.insertThreshold = max(indexPolicy.minimumEntries << (levelBits * (indexPolicy.level - 1)), 1)
        }
    }

    deinit {
        head.chunk.deallocate()
        predecessors.deallocate()
        freeAllIndexesLocked()
        // The allocator's own deinit frees the slabs, retired nodes included.
    }

    /// Levels in use.
    @inlinable
    var height: Int { heightCell.load(ordering: .relaxed) }

    // MARK: - Public operations

    /// Stores `value` under `key`, replacing any previous value (an `.insertOnly` list keeps
    /// the previous value instead).
    /// - Returns: true if the key was new, false if it was already present.
    @inlinable
    @discardableResult
    public func insert(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        writeLock.withLock {
            let isNew = insertLocked(key, value)
            reclaimLocked()
            return isNew
        }
    }

    /// Removes `key`.
    /// - Returns: true if the key was present.
    @inlinable
    @discardableResult
    public func remove(_ key: UnsafeRawBufferPointer) -> Bool {
        writeLock.withLock {
            let removed = removeLocked(key)
            reclaimLocked()
            return removed
        }
    }

    /// Runs `body` inside a read section: no lock, but nodes reached stay allocated until it ends.
    @inlinable
    func withReadSection<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        if isInsertOnly { return try body() }
        let entered = reclaimer.enter()
        defer { reclaimer.leave(entered) }
        return try body()
    }

    /// Looks up `key` and hands the stored value, in place, to `body`.
    /// - Returns: `body`'s result, or nil if the key is absent.
    @inlinable
    public func value<R, E: Error>(forKey key: UnsafeRawBufferPointer,
                                   _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R? {
        try withReadSection { () throws(E) -> R? in try valueLocked(forKey: key, body) }
    }

    /// Visits records with keys `>= start` in comparator order until `visit` returns false.
    /// Lock-free: each record visited was present at some moment during the walk, in order,
    /// but writes made meanwhile may or may not be seen.
    @inlinable
    public func forEach<E: Error>(from start: UnsafeRawBufferPointer,
                                  _ visit: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(E) -> Bool) throws(E) {
        try withReadSection { () throws(E) in
            var node = findGreaterOrEqual(start, recordingPredecessors: false)
            while let current = node {
                let (key, value) = current.record
                guard try visit(key, value) else { return }
                node = current.next(0)
            }
        }
    }

    /// Runs `body` with lock-free read access: lookups and cursors made in it stay valid until
    /// it returns. Writers go on meanwhile.
    @inlinable
    public func withReadView<R, E: Error>(_ body: (borrowing ReadView) throws(E) -> R) throws(E) -> R {
        try withReadSection { () throws(E) -> R in try body(ReadView(list: self)) }
    }

    /// Runs `body` with exclusive write access (writers are serialized; readers are not held off).
    @inlinable
    public func withWriter<R, E: Error>(_ body: (borrowing Writer) throws(E) -> R) throws(E) -> R {
        try writeLock.withLock { () throws(E) -> R in
            defer { reclaimLocked() }
            return try body(Writer(list: self))
        }
    }

    /// Runs `body` with exclusive write access if no other writer holds the lock right now;
    /// returns nil without waiting otherwise (for opportunistic work such as reclamation after
    /// a read).
    @inlinable
    public func tryWithWriter<R>(_ body: (borrowing Writer) -> R) -> R? {
        guard writeLock.tryLock() else { return nil }
        defer { writeLock.unlock() }
        defer { reclaimLocked() }
        return body(Writer(list: self))
    }

    /// A cursor on the first record `>= key` of an `.insertOnly` list, valid for as long as the
    /// list lives (nothing in such a list is freed earlier).
    @inlinable
    public func insertOnlySeek(_ key: UnsafeRawBufferPointer) -> Cursor {
        precondition(isInsertOnly, "insertOnlySeek on a list that reclaims nodes: use withReadView")
        return Cursor(node: findGreaterOrEqual(key, recordingPredecessors: false))
    }

    /// A cursor on the first record of an `.insertOnly` list (see `insertOnlySeek`).
    @inlinable
    public func insertOnlyFirst() -> Cursor {
        precondition(isInsertOnly, "insertOnlyFirst on a list that reclaims nodes: use withReadView")
        return Cursor(node: head.next(0))
    }

    /// Number of records.
    public var count: Int { countCell.load(ordering: .relaxed) }

    /// Bytes held by nodes (chunk sizes, retired ones until freed), for deciding when a
    /// memtable is full.
    public var approximateMemoryUsage: Int { bytesInUseCell.load(ordering: .relaxed) }

    /// Bytes held by nodes, and bytes obtained from the system (slabs and large values).
    public var memoryUsage: (bytesInUse: Int, bytesReserved: Int) {
        writeLock.withLock { (allocator.bytesInUse, allocator.bytesReserved) }
    }

    /// Removes every record. Readers that are inside a read section meanwhile finish on the
    /// old nodes: the records are unlinked first, then this waits out a grace period (the
    /// readers inside at that moment leave; later ones find the list empty; the one place a
    /// writer waits for readers), then frees.
    ///
    /// Must not be called from inside a read section (a `withReadView`, `forEach` or `value`
    /// closure): it would wait for its own caller. Not allowed on an `.insertOnly` list, whose
    /// cursors live outside any read section and would be left on freed nodes.
    /// - Parameter keepingCapacity: keep the slabs for reuse instead of returning them.
    public func removeAll(keepingCapacity: Bool = false) {
        precondition(!isInsertOnly, "removeAll on an insert-only skiplist: its cursors may still be in use")
        writeLock.withLock {
            let first = head.next(0)
            unpublishIndexLocked()
            for level in 0..<Self.maxHeight { head.setNext(level, nil) }
            reclaimer.waitForGracePeriod()
            freeRetiredLocked(parity: 0)
            freeRetiredLocked(parity: 1)
            if keepingCapacity {
                var node = first
                while let current = node {
                    node = current.next(0)
                    allocator.deallocate(current.chunk, size: current.size)
                }
            } else {
                allocator.releaseAll()
            }
            heightCell.store(1, ordering: .relaxed)
            countCell.store(0, ordering: .relaxed)
            bytesInUseCell.store(allocator.bytesInUse, ordering: .relaxed)
        }
    }

    // MARK: - Core algorithms (readers: inside a read section; writers: holding the write lock)

    /// The first node whose key is `>= key`, or nil. With `recordingPredecessors` (writers
    /// only), also stores in `predecessors[level]` the last node before `key` on every level
    /// in use.
    @inlinable
    func findGreaterOrEqual(_ key: UnsafeRawBufferPointer, recordingPredecessors: Bool) -> SkipListNode? {
        findFirst(notBefore: ComparatorProbe(comparator: comparator, key: key), recordingPredecessors: recordingPredecessors)
    }

    /// The first node that `probe` does not place before its target, or nil (the search every
    /// lookup, seek and write path runs). With `recordingPredecessors` (writers only), also
    /// stores in `predecessors[level]` the last node before the target on every level in use.
    ///
    /// Generic over the probe so that each caller's comparison is specialized inline (no
    /// closure, no search key built in temporary memory). The node that ended the walk on one
    /// level is often the first candidate on the level below: it is not compared again
    /// (LevelDB's `FindGreaterOrEqual` does the same), which saves a comparison per level.
    ///
    /// Key prefixes (`KeyComparator.prefix`) decide most steps without the full comparison:
    /// on a level above 0 the hint stored next to the pointer says the successor lies beyond
    /// the target without touching the successor's memory at all; otherwise the successor's
    /// own prefix (next to its level-0 pointer) decides, and only a tie compares keys.
    /// A reader may see a hint that is stale or torn against the pointer (writers change the
    /// two independently); it uses a hint only to stop on a level above 0, and stopping early
    /// there merely goes down from a node that is still before the target, so the result is
    /// the same. Writers hold the lock, so their hints are exact and their predecessors too.
    /// A hint stop does not set `bound`: only a node actually compared may end a lower level.
    @inlinable @inline(__always)
    func findFirst<Probe: SkipListProbe>(notBefore probe: Probe, recordingPredecessors: Bool) -> SkipListNode? {
        let target = probe.prefix
        var node = head
        var level = height - 1
        // Readers start from the search index's last live entry before the target (writers
        // need the predecessors on every level, so they start at the head).
        if !recordingPredecessors {
            let bits = indexCell.load(ordering: .acquiring)
            if bits != 0 {
                let index = SkipListSearchIndex(UnsafeMutableRawPointer(bitPattern: bits)!)
                if let start = index.start(before: target) {
                    node = start
                    level = index.startLevel
                }
            }
        }
        // The last node found not before the target (compared already), as its address bits.
        var bound = 0
        while true {
            let next = node.cell(level).pointee.load(ordering: .acquiring)
            if next != 0 && next != bound && !(level > 0 && target.isBefore(node.hint(level))) {
                let candidate = SkipListNode(UnsafeMutableRawPointer(bitPattern: next)!)
                let candidatePrefix = candidate.prefix
                let isBefore = candidatePrefix.isBefore(target)
                    || (!target.isBefore(candidatePrefix) && probe.isBefore(candidate.key))
                if isBefore {
                    node = candidate
                    continue
                }
                bound = next
            }
            if recordingPredecessors { predecessors[level] = node }
            if level == 0 { return UnsafeMutableRawPointer(bitPattern: next).map(SkipListNode.init) }
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
            // An insert-only list keeps the first record: its readers hold nodes without
            // epochs, so none may be replaced (an LSM log replayed twice inserts equal records).
            // Such duplicates carry the same value (same internal key, same write): checked in
            // debug builds, since keeping the first of two different values would be a silent loss.
            if isInsertOnly {
                assert(ByteOrder.equal(found.record.value, value),
                       "an insert-only skiplist got one key twice with different values")
            } else {
                replaceLocked(found, key: key, value: value)
            }
            return false
        }
        _ = linkNewLocked(key, value)
        return true
    }

    /// Links a new node for `key`, which must not be in the list; `predecessors` must hold
    /// its search path (`findGreaterOrEqual(key, recordingPredecessors: true)`).
    /// - Returns: the new node.
    @inlinable
    func linkNewLocked(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> SkipListNode {
        let nodeHeight = randomHeight()
        let listHeight = height
        if nodeHeight > listHeight {
            for level in listHeight..<nodeHeight { predecessors[level] = head }
            // Relaxed is enough: a reader that sees the new height before the links finds nil
            // at those levels of the head and goes down (LevelDB's argument).
            heightCell.store(nodeHeight, ordering: .relaxed)
        }
        let size = SkipListNode.size(height: nodeHeight, keyCount: key.count, valueCount: value.count)
        let prefix = comparator.prefix(key)
        let node = SkipListNode.initialize(chunk: allocator.allocate(size), height: nodeHeight, prefix: prefix,
                                           key: key, value: value)
        for level in 0..<nodeHeight {
            let predecessor = predecessors[level]
            node.setNextUnpublished(level, predecessor.next(level))
            if level > 0 {
                // The predecessor's hint was its old successor's prefix, now ours. Its new hint
                // goes in before the pointer: a reader that pairs it with the old successor
                // sees a prefix no later than that successor's, so a stop it makes is right.
                node.setHint(level, predecessor.hint(level))
                predecessor.setHint(level, prefix)
            }
            predecessor.setNext(level, node)
        }
        countCell.store(countCell.load(ordering: .relaxed) + 1, ordering: .relaxed)
        bytesInUseCell.store(allocator.bytesInUse, ordering: .relaxed)
        noteInsertLocked()
        return node
    }

    /// Gives `node` (whose key equals `key`) a new value; `predecessors` is filled in. A new
    /// node of the same height takes its place on every level, top level first so that level 0,
    /// the one every search ends on, switches last; the old node is retired, not freed.
    @inlinable
    func replaceLocked(_ node: SkipListNode, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        precondition(!isInsertOnly, "a key was inserted twice into an insert-only skiplist")
        let nodeHeight = node.height
        let newSize = SkipListNode.size(height: nodeHeight, keyCount: key.count, valueCount: value.count)
        // The caller's key: equal under the comparator, and the stored one may be freed soon.
        // Equal keys have equal prefixes, so the predecessors' hints stay right.
        let replacement = SkipListNode.initialize(chunk: allocator.allocate(newSize), height: nodeHeight,
                                                  prefix: node.prefix, key: key, value: value)
        for level in 0..<nodeHeight {
            replacement.setNextUnpublished(level, node.next(level))
            if level > 0 { replacement.setHint(level, node.hint(level)) }
        }
        // Marked in the index before the unlinking stores (releases), so a reader that can see
        // the replacement sees the mark too and does not start from the old node.
        markUnlinkingLocked(node)
        for level in stride(from: nodeHeight - 1, through: 0, by: -1) {
            predecessors[level].setNext(level, replacement)
        }
        retireLocked(node)
        bytesInUseCell.store(allocator.bytesInUse, ordering: .relaxed)
        noteRetireLocked()
    }

    @inlinable
    func removeLocked(_ key: UnsafeRawBufferPointer) -> Bool {
        guard let found = findGreaterOrEqual(key, recordingPredecessors: true),
              comparator.compare(found.key, key) == 0 else { return false }
        unlinkLocked(found)
        return true
    }

    /// Takes `node` out of every level and retires it; `predecessors` holds its search path.
    @inlinable
    func unlinkLocked(_ node: SkipListNode) {
        precondition(!isInsertOnly, "remove on an insert-only skiplist")
        markUnlinkingLocked(node)
        for level in stride(from: node.height - 1, through: 0, by: -1) {
            if level > 0 { predecessors[level].setHint(level, node.hint(level)) }
            predecessors[level].setNext(level, node.next(level))
        }
        retireLocked(node)
        countCell.store(countCell.load(ordering: .relaxed) - 1, ordering: .relaxed)
        var listHeight = height
        while listHeight > 1 && head.next(listHeight - 1) == nil { listHeight -= 1 }
        heightCell.store(listHeight, ordering: .relaxed)
        noteRetireLocked()
    }

    /// Parks an unlinked node until no reader can hold it.
    @inlinable
    func retireLocked(_ node: SkipListNode) {
        if reclaimer.current & 1 == 0 { retired.even.append(node) } else { retired.odd.append(node) }
    }

    @inlinable
    var hasRetiredLocked: Bool {
        !retired.even.isEmpty || !retired.odd.isEmpty || !indexState.retired.even.isEmpty || !indexState.retired.odd.isEmpty
    }

    /// Frees the retired nodes of one epoch parity (their grace period is over).
    @inlinable
    func freeRetiredLocked(parity: Int) {
        func free(_ nodes: inout [SkipListNode]) {
            for node in nodes { allocator.deallocate(node.chunk, size: node.size) }
            nodes.removeAll(keepingCapacity: true)
        }
        if parity == 0 { free(&retired.even) } else { free(&retired.odd) }
        freeRetiredIndexesLocked(parity: parity)
        bytesInUseCell.store(allocator.bytesInUse, ordering: .relaxed)
    }

    /// Moves the epoch on once if readers allow, freeing what that makes safe.
    /// - Returns: whether the epoch moved.
    @inlinable
    func tryAdvanceEpochLocked() -> Bool {
        reclaimer.tryAdvance { parity in freeRetiredLocked(parity: parity) }
    }

    /// Frees retired nodes as far as readers allow, without waiting: two epoch steps free
    /// everything retired so far when no reader is inside.
    @inlinable
    func reclaimLocked() {
        var steps = 0
        while steps < 2 && hasRetiredLocked && tryAdvanceEpochLocked() { steps += 1 }
    }

    /// A height from 1...maxHeight, each level kept with probability 1/2 (one random bit) or
    /// 1/4 (two), per `towerGrowth`.
    @inlinable
    func randomHeight() -> Int {
        var bits = random.next()
        let mask: UInt64 = levelBits == 1 ? 1 : 3
        var nodeHeight = 1
        while nodeHeight < Self.maxHeight && bits & mask == 0 {
            nodeHeight += 1
            bits >>= UInt64(levelBits)
        }
        return nodeHeight
    }
}

/// Where a search target lies relative to the keys of a `SkipList`, for `findFirst(notBefore:)`.
///
/// It must agree with the list's comparator: `isBefore(k)` is true exactly for the stored keys
/// `k` that sort before the target, so those form a prefix of the list.
@usableFromInline
protocol SkipListProbe {
    /// The target's `KeyComparator.prefix` under the list's comparator (all zeros is correct).
    var prefix: KeyPrefix { get }
    /// True if the stored key `nodeKey` sorts before the target.
    func isBefore(_ nodeKey: UnsafeRawBufferPointer) -> Bool
}

/// The probe for a key in the list's own key space: `comparator.compare(nodeKey, key) < 0`.
@usableFromInline
struct ComparatorProbe<Comparator: KeyComparator>: SkipListProbe {
    @usableFromInline let comparator: Comparator
    @usableFromInline let key: UnsafeRawBufferPointer
    @usableFromInline let prefix: KeyPrefix

    @inlinable
    init(comparator: Comparator, key: UnsafeRawBufferPointer) {
        self.comparator = comparator
        self.key = key
        prefix = comparator.prefix(key)
    }

    @inlinable @inline(__always)
    func isBefore(_ nodeKey: UnsafeRawBufferPointer) -> Bool { comparator.compare(nodeKey, key) < 0 }
}

extension SkipList where Comparator == BytewiseComparator {
    /// An empty list in bytewise key order.
    /// - Parameter random: the source of tower heights.
    public convenience init(random: SeededRandom = SeededRandom(seed: 0x5EED)) {
        self.init(comparator: BytewiseComparator(), random: random, mode: .reclaiming)
    }
}
