// One skiplist node as raw bytes in a slab chunk: the tower of next pointers, height, record.

import KVCore

/// Accessors for a node laid out in one slab chunk (layout documented on `SkipList`).
///
/// A node reference points at the height byte, just past the tower, so `next(level)` is at a
/// fixed negative offset whatever the height, and the record starts one byte later.
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

    /// Writes the height and record into `chunk` and clears the tower.
    @inlinable
    static func initialize(chunk: UnsafeMutableRawPointer, height: Int,
                           key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> SkipListNode {
        let node = SkipListNode(chunk + height * pointerSize)
        node.reference.storeBytes(of: UInt8(height), as: UInt8.self)
        for level in 0..<height { node.setNext(level, nil) }
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

    /// The successor at `level` (< height).
    @inlinable
    func next(_ level: Int) -> SkipListNode? {
        (reference - (level + 1) * Self.pointerSize)
            .load(as: UnsafeMutableRawPointer?.self).map(SkipListNode.init)
    }

    @inlinable
    func setNext(_ level: Int, _ node: SkipListNode?) {
        (reference - (level + 1) * Self.pointerSize)
            .storeBytes(of: node?.reference, as: UnsafeMutableRawPointer?.self)
    }
}
