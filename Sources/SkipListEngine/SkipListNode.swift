// One skiplist node as raw bytes in a slab chunk: the tower of atomic next pointers, height, record.

import KVCore
import Synchronization

/// Accessors for a node laid out in one slab chunk (layout documented on `SkipList`).
///
/// A node reference points at the height byte, just past the tower, so `next(level)` is at a
/// fixed negative offset whatever the height, and the record starts one byte later.
///
/// Next pointers are `Atomic<Int>` cells over the chunk's bytes (the pointer's bit pattern):
/// the writer publishes a node with a release store into its predecessor's cell after filling
/// the node in, and readers follow pointers with acquire loads, so a reader that sees a node
/// also sees its key, value and tower as they were when it was linked (LevelDB's memtable
/// discipline). Everything after the tower is written once, before publication, and never
/// again while a reader can reach it.
@usableFromInline
struct SkipListNode: Equatable {
    @usableFromInline let reference: UnsafeMutableRawPointer

    @inlinable
    init(_ reference: UnsafeMutableRawPointer) { self.reference = reference }

    /// Bytes of a chunk holding a node of `height` with this key and value.
    @inlinable
    static func size(height: Int, keyCount: Int, valueCount: Int) -> Int {
        height * pointerSize + 1 + PackedRecord.size(keyCount: keyCount, valueCount: valueCount)
    }

    @usableFromInline static let pointerSize = MemoryLayout<UnsafeMutableRawPointer>.stride

    /// Writes the height and record into `chunk` and clears the tower (not yet published).
    @inlinable
    static func initialize(chunk: UnsafeMutableRawPointer, height: Int,
                           key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> SkipListNode {
        let node = SkipListNode(chunk + height * pointerSize)
        node.reference.storeBytes(of: UInt8(height), as: UInt8.self)
        for level in 0..<height { node.cell(level).initialize(to: Atomic<Int>(0)) }
        PackedRecord.write(key: key, value: value, to: node.reference + 1)
        return node
    }

    @inlinable
    var height: Int { Int(reference.load(as: UInt8.self)) }

    /// The start of the chunk (the top of the tower).
    @inlinable
    var chunk: UnsafeMutableRawPointer { reference - height * Self.pointerSize }

    /// Bytes of this node's chunk request (what was passed to `SlabAllocator.allocate`).
    @inlinable
    var size: Int { height * Self.pointerSize + 1 + PackedRecord.read(reference + 1).size }

    @inlinable
    var key: UnsafeRawBufferPointer { PackedRecord.key(reference + 1) }

    @inlinable
    var record: (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        let r = PackedRecord.read(reference + 1)
        return (r.key, r.value)
    }

    /// The atomic cell holding the successor at `level` (< height).
    @inlinable
    func cell(_ level: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (reference - (level + 1) * Self.pointerSize).assumingMemoryBound(to: Atomic<Int>.self)
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
