// One skiplist node as raw bytes in a slab chunk: the tower of atomic next pointers with their successors' key prefixes, the node's own prefix, height, record.

import KVCore
import Synchronization

/// Accessors for a node laid out in one slab chunk (layout documented on `SkipList`).
///
/// A node reference points at the node's own 16-byte key prefix, just past the tower, so
/// `next(level)` is at a fixed negative offset whatever the height, and the height and record
/// follow at fixed positive offsets.
///
/// Next pointers are `Atomic<Int>` cells over the chunk's bytes (the pointer's bit pattern):
/// the writer publishes a node with a release store into its predecessor's cell after filling
/// the node in, and readers follow pointers with acquire loads, so a reader that sees a node
/// also sees its key, value and tower as they were when it was linked (LevelDB's memtable
/// discipline). Everything after the tower is written once, before publication, and never
/// again while a reader can reach it.
///
/// Levels above 0 also hold a *hint*: the key prefix of the successor on that level, in two
/// relaxed atomic words next to the pointer. A writer keeps it exact (under the write lock);
/// a reader may see it stale or torn against the pointer, so a search trusts it only to stop
/// early on a level above 0, which can never lead it past its target (see `SkipList.findFirst`).
@usableFromInline
struct SkipListNode: Equatable {
    @usableFromInline let reference: UnsafeMutableRawPointer

    @inlinable
    init(_ reference: UnsafeMutableRawPointer) { self.reference = reference }

    @usableFromInline static let pointerSize = MemoryLayout<UnsafeMutableRawPointer>.stride
    /// Bytes of a level above 0: pointer, hint high word, hint low word.
    @usableFromInline static let upperLevelSize = 24
    /// Bytes between the reference and the height byte (the node's own prefix).
    @usableFromInline static let prefixSize = 16

    /// Bytes of the tower of a node of `height`: 8 for level 0, 24 for each level above.
    @inlinable
    static func towerSize(height: Int) -> Int { pointerSize + (height - 1) * upperLevelSize }

    /// Bytes of a chunk holding a node of `height` with this key and value.
    @inlinable
    static func size(height: Int, keyCount: Int, valueCount: Int) -> Int {
        towerSize(height: height) + prefixSize + 1 + PackedRecord.size(keyCount: keyCount, valueCount: valueCount)
    }

    /// Writes the prefix, height and record into `chunk` and clears the tower (not yet published).
    @inlinable
    static func initialize(chunk: UnsafeMutableRawPointer, height: Int, prefix: KeyPrefix,
                           key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> SkipListNode {
        let node = SkipListNode(chunk + towerSize(height: height))
        node.reference.storeBytes(of: prefix.high, as: UInt64.self)
        node.reference.storeBytes(of: prefix.low, toByteOffset: 8, as: UInt64.self)
        node.reference.storeBytes(of: UInt8(height), toByteOffset: prefixSize, as: UInt8.self)
        for level in 0..<height {
            node.cell(level).initialize(to: Atomic<Int>(0))
            if level > 0 {
                node.hintCells(level).high.initialize(to: Atomic<UInt64>(0))
                node.hintCells(level).low.initialize(to: Atomic<UInt64>(0))
            }
        }
        PackedRecord.write(key: key, value: value, to: node.reference + prefixSize + 1)
        return node
    }

    @inlinable
    var height: Int { Int(reference.load(fromByteOffset: Self.prefixSize, as: UInt8.self)) }

    /// The node's own key prefix (immutable once published).
    @inlinable @inline(__always)
    var prefix: KeyPrefix {
        KeyPrefix(high: reference.load(as: UInt64.self), low: reference.load(fromByteOffset: 8, as: UInt64.self))
    }

    /// The start of the chunk (the top of the tower).
    @inlinable
    var chunk: UnsafeMutableRawPointer { reference - Self.towerSize(height: height) }

    /// Bytes of this node's chunk request (what was passed to `SlabAllocator.allocate`).
    @inlinable
    var size: Int {
        Self.towerSize(height: height) + Self.prefixSize + 1 + PackedRecord.read(reference + Self.prefixSize + 1).size
    }

    @inlinable
    var key: UnsafeRawBufferPointer { PackedRecord.key(reference + Self.prefixSize + 1) }

    @inlinable
    var record: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let r = PackedRecord.read(reference + Self.prefixSize + 1)
        return (r.key, r.value)
    }

    /// The atomic cell holding the successor at `level` (< height). Level 0 sits right below
    /// the prefix; level L > 0 starts 24*L bytes further down.
    @inlinable @inline(__always)
    func cell(_ level: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (reference - Self.pointerSize - level * Self.upperLevelSize).assumingMemoryBound(to: Atomic<Int>.self)
    }

    /// The two words of the hint at `level` (1..<height).
    @inlinable @inline(__always)
    func hintCells(_ level: Int) -> (high: UnsafeMutablePointer<Atomic<UInt64>>, low: UnsafeMutablePointer<Atomic<UInt64>>) {
        let base = reference - Self.pointerSize - level * Self.upperLevelSize
        return ((base + 8).assumingMemoryBound(to: Atomic<UInt64>.self),
                (base + 16).assumingMemoryBound(to: Atomic<UInt64>.self))
    }

    /// The successor's prefix as last stored at `level` (1..<height); only a hint for readers.
    @inlinable @inline(__always)
    func hint(_ level: Int) -> KeyPrefix {
        let cells = hintCells(level)
        return KeyPrefix(high: cells.high.pointee.load(ordering: .relaxed), low: cells.low.pointee.load(ordering: .relaxed))
    }

    /// Records `prefix` as the hint at `level` (1..<height); writers only, before the pointer.
    @inlinable
    func setHint(_ level: Int, _ prefix: KeyPrefix) {
        let cells = hintCells(level)
        cells.high.pointee.store(prefix.high, ordering: .relaxed)
        cells.low.pointee.store(prefix.low, ordering: .relaxed)
    }

    /// The successor at `level` (< height), loaded with acquire ordering: what a reader sees
    /// through it was written before it was published.
    @inlinable
    func next(_ level: Int) -> SkipListNode? {
        UnsafeMutableRawPointer(bitPattern: cell(level).pointee.load(ordering: .acquiring)).map(SkipListNode.init)
    }

    /// Publishes `node` as the successor at `level` (release store).
    @inlinable
    func setNext(_ level: Int, _ node: SkipListNode?) {
        cell(level).pointee.store(Int(bitPattern: node?.reference), ordering: .releasing)
    }

    /// Sets the successor of a node no reader can reach yet (the release store that links
    /// this node orders it).
    @inlinable
    func setNextUnpublished(_ level: Int, _ node: SkipListNode?) {
        cell(level).pointee.store(Int(bitPattern: node?.reference), ordering: .relaxed)
    }
}
