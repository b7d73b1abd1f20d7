// Reads one block of a sorted table: binary search over restart points, then decode forward.

import KVCore
import KVStorage

/// A block's bytes (layout in `BlockBuilder`) in memory owned by this object, checked once
/// for a sane restart array. Entries are decoded with bounds checks; a malformed entry is
/// corruption reported at its file offset.
final class Block: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    /// Where the restart array starts (= end of the entries).
    let restartsOffset: Int
    let restartCount: Int
    /// For error messages: the table's path and the block's offset in it.
    let path: String
    let fileOffset: Int64
    /// The mapping the bytes live in, when they are not this block's own memory.
    private let mapping: MappedRegion?

    /// A block over `contents` (copied).
    convenience init(contents: [UInt8], path: String, fileOffset: Int64) throws(EngineError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(contents.count, 1), alignment: 8)
        contents.withUnsafeBytes { if $0.count > 0 { buffer.copyMemory(from: $0) } }
        try self.init(owning: buffer, count: contents.count, path: path, fileOffset: fileOffset)
    }

    /// A block over the first `count` bytes of `buffer`, which it takes ownership of (and frees,
    /// also when it throws).
    init(owning buffer: UnsafeMutableRawBufferPointer, count: Int, path: String, fileOffset: Int64) throws(EngineError) {
        self.path = path
        self.fileOffset = fileOffset
        guard count >= 4 else {
            buffer.deallocate()
            throw .corruption(file: path, offset: fileOffset, detail: "block of \(count) bytes is too short for a restart count")
        }
        let restarts = Int(UInt32(littleEndian: buffer.baseAddress!.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)))
        guard restarts >= 1, restarts <= (count - 4) / 4 else {
            buffer.deallocate()
            throw .corruption(file: path, offset: fileOffset, detail: "block restart count \(restarts) does not fit in \(count) bytes")
        }
        restartCount = restarts
        restartsOffset = count - 4 - 4 * restarts
        bytes = UnsafeMutableRawBufferPointer(start: buffer.baseAddress, count: count)
        mapping = nil
    }

    /// A block over `count` bytes at `start` inside `mapping` (not copied, not freed).
    init(mapped start: UnsafeRawPointer, count: Int, mapping: MappedRegion, path: String, fileOffset: Int64) throws(EngineError) {
        self.path = path
        self.fileOffset = fileOffset
        guard count >= 4 else {
            throw .corruption(file: path, offset: fileOffset, detail: "block of \(count) bytes is too short for a restart count")
        }
        let restarts = Int(UInt32(littleEndian: start.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)))
        guard restarts >= 1, restarts <= (count - 4) / 4 else {
            throw .corruption(file: path, offset: fileOffset, detail: "block restart count \(restarts) does not fit in \(count) bytes")
        }
        restartCount = restarts
        restartsOffset = count - 4 - 4 * restarts
        bytes = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(mutating: start), count: count)
        self.mapping = mapping
    }

    deinit { if mapping == nil { bytes.deallocate() } }

    var size: Int { bytes.count }

    @inline(__always)
    func restart(_ i: Int) -> Int {
        Int(UInt32(littleEndian: bytes.baseAddress!.loadUnaligned(fromByteOffset: restartsOffset + 4 * i, as: UInt32.self)))
    }

    func corruption(_ offset: Int, _ detail: String) -> EngineError {
        .corruption(file: path, offset: fileOffset + Int64(offset), detail: detail)
    }
}

/// Walks a block's entries, reassembling prefix-compressed keys in one scratch buffer that is
/// reused across entries and, through `reset(to:)`, across blocks (a table walk allocates no
/// iterator or key buffer per block).
final class BlockIterator {
    private(set) var block: Block
    private var keyBuffer: UnsafeMutableRawPointer
    private var keyCapacity: Int
    private(set) var keyCount = 0
    /// Offset of the current entry, or `restartsOffset` when past the end.
    private var current: Int
    private var nextOffset: Int
    private var valueStart = 0
    private var valueCount = 0

    init(block: Block) {
        self.block = block
        keyCapacity = 64
        keyBuffer = .allocate(byteCount: keyCapacity, alignment: 8)
        current = block.restartsOffset
        nextOffset = block.restartsOffset
    }

    deinit { keyBuffer.deallocate() }

    /// Points the iterator at `block`, unpositioned (call `seekToFirst` or `seek`); the key
    /// buffer is kept.
    func reset(to block: Block) {
        self.block = block
        keyCount = 0
        current = block.restartsOffset
        nextOffset = block.restartsOffset
    }

    var isValid: Bool { current < block.restartsOffset }
    var key: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: keyBuffer, count: keyCount) }
    var value: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: block.bytes.baseAddress! + valueStart, count: valueCount) }

    /// Decodes the entry at `offset` on top of the current key. Returns false at the end.
    private func decode(at offset: Int) throws(EngineError) -> Bool {
        current = offset
        guard offset < block.restartsOffset else { nextOffset = offset; return false }
        let raw = UnsafeRawBufferPointer(start: block.bytes.baseAddress!, count: block.restartsOffset)
        var p = offset
        guard let (shared, a) = Varint.read(raw, at: p) else { throw block.corruption(p, "malformed entry: shared-length varint") }
        p += a
        guard let (nonShared, b) = Varint.read(raw, at: p) else { throw block.corruption(p, "malformed entry: key-length varint") }
        p += b
        guard let (valueLength, c) = Varint.read(raw, at: p) else { throw block.corruption(p, "malformed entry: value-length varint") }
        p += c
        guard shared <= UInt64(keyCount), nonShared <= UInt64(raw.count - p),
              valueLength <= UInt64(raw.count - p) - nonShared else {
            throw block.corruption(offset, "malformed entry: shared \(shared) of \(keyCount), \(nonShared) key and \(valueLength) value bytes past the entries' end")
        }
        let newCount = Int(shared) + Int(nonShared)
        if newCount > keyCapacity {
            let grown = UnsafeMutableRawPointer.allocate(byteCount: newCount * 2, alignment: 8)
            grown.copyMemory(from: keyBuffer, byteCount: keyCount)
            keyBuffer.deallocate()
            keyBuffer = grown
            keyCapacity = newCount * 2
        }
        (keyBuffer + Int(shared)).copyMemory(from: raw.baseAddress! + p, byteCount: Int(nonShared))
        keyCount = newCount
        p += Int(nonShared)
        valueStart = p
        valueCount = Int(valueLength)
        nextOffset = p + valueCount
        return true
    }

    func seekToFirst() throws(EngineError) {
        keyCount = 0
        _ = try decode(at: 0)
    }

    func next() throws(EngineError) {
        _ = try decode(at: nextOffset)
    }

    /// Moves to the first entry whose key is `>= target` under `comparator`.
    func seek(_ target: UnsafeRawBufferPointer, comparator: InternalKeyComparator) throws(EngineError) {
        // The last restart whose key is < target; decode forward from it.
        var low = 0, high = block.restartCount - 1
        while low < high {
            let mid = (low + high + 1) / 2
            keyCount = 0
            let offset = block.restart(mid)
            guard offset < block.restartsOffset else { throw block.corruption(block.restartsOffset + 4 * mid, "restart offset \(offset) past the entries") }
            _ = try decode(at: offset)
            if comparator.compare(key, target) < 0 { low = mid } else { high = mid - 1 }
        }
        keyCount = 0
        var ok = try decode(at: block.restart(low))
        while ok && comparator.compare(key, target) < 0 { ok = try decode(at: nextOffset) }
    }
}
