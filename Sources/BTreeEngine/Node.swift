// A view over a branch or leaf page: slots, cells, insertion, removal and compaction.

/// The slotted-page operations on a page's bytes (layout in `Page`'s doc comment).
struct Node {
    let base: UnsafeMutableRawPointer
    let pageSize: Int

    var type: UInt8 { base.load(fromByteOffset: 4, as: UInt8.self) }
    var isLeaf: Bool { type == PageType.leaf.rawValue }
    var count: Int {
        get { base.u16(6) }
        nonmutating set { base.setU16(6, newValue) }
    }
    var contentStart: Int {
        get { let v = base.u16(16); return v == 0 ? pageSize : v }
        nonmutating set { base.setU16(16, newValue == pageSize ? 0 : newValue) }
    }
    var fragmented: Int {
        get { base.u16(18) }
        nonmutating set { base.setU16(18, newValue) }
    }
    /// Rightmost child (branch) or next page (chains).
    var link: UInt64 {
        get { base.u64(24) }
        nonmutating set { base.setU64(24, newValue) }
    }

    /// Resets the page to an empty one of `type`.
    func initialize(_ type: PageType) {
        memset(base, 0, PageLayout.headerSize)
        base.storeBytes(of: type.rawValue, toByteOffset: 4, as: UInt8.self)
        contentStart = pageSize
    }

    @inline(__always) func slot(_ i: Int) -> Int { base.u16(PageLayout.headerSize + 2 * i) }
    @inline(__always) func cell(_ i: Int) -> UnsafeMutableRawPointer { base + slot(i) }

    /// Free bytes, counting fragments.
    var freeBytes: Int { contentStart - PageLayout.headerSize - 2 * count + fragmented }
    /// Bytes used by cells and slots.
    var usedBytes: Int { PageLayout.capacity(pageSize) - freeBytes }

    // MARK: Cells

    /// The parsed key of cell `i`: its inline bytes, full length and overflow page (0 if inline).
    @inline(__always)
    func key(_ i: Int) -> CellKey { Node.key(ofCell: cell(i), leaf: isLeaf) }

    @inline(__always)
    static func key(ofCell c: UnsafeMutableRawPointer, leaf: Bool) -> CellKey {
        let flags = c.load(as: UInt8.self)
        // Fast path: an inline leaf cell with one-byte lengths (short records).
        if leaf && flags == 0 {
            let k = c.load(fromByteOffset: 1, as: UInt8.self), v = c.load(fromByteOffset: 2, as: UInt8.self)
            if k < 0x80 && v < 0x80 { return CellKey(bytes: UnsafeRawPointer(c + 3), inlineCount: Int(k), fullCount: Int(k), overflow: 0) }
        }
        if !leaf && flags == 0 {
            let k = c.load(fromByteOffset: 9, as: UInt8.self)
            if k < 0x80 { return CellKey(bytes: UnsafeRawPointer(c + 10), inlineCount: Int(k), fullCount: Int(k), overflow: 0) }
        }
        return slowKey(ofCell: c, leaf: leaf, flags: flags)
    }

    static func slowKey(ofCell c: UnsafeMutableRawPointer, leaf: Bool, flags: UInt8) -> CellKey {
        var o = 1
        if leaf {
            let keyLength = readVarint(c, &o)
            _ = readVarint(c, &o)
            if flags == 0 { return CellKey(bytes: UnsafeRawPointer(c + o), inlineCount: keyLength, fullCount: keyLength, overflow: 0) }
            let p = readVarint(c, &o)
            return CellKey(bytes: UnsafeRawPointer(c + o), inlineCount: p, fullCount: keyLength, overflow: c.u64(o + p))
        } else {
            o += 8
            let keyLength = readVarint(c, &o)
            if flags == 0 { return CellKey(bytes: UnsafeRawPointer(c + o), inlineCount: keyLength, fullCount: keyLength, overflow: 0) }
            let p = readVarint(c, &o)
            return CellKey(bytes: UnsafeRawPointer(c + o), inlineCount: p, fullCount: keyLength, overflow: c.u64(o + p))
        }
    }

    /// Child page of branch cell `i`; `i == count` means the rightmost child.
    @inline(__always)
    func child(_ i: Int) -> UInt64 { i == count ? link : cell(i).u64(1) }

    func setChild(_ i: Int, _ page: UInt64) {
        if i == count { link = page } else { cell(i).setU64(1, page) }
    }

    /// Leaf cell `i`'s value: inline bytes, or (length, first overflow page, bytes of key
    /// suffix in the chain before the value).
    func leafValue(_ i: Int) -> LeafValue {
        let c = cell(i)
        let flags = c.load(as: UInt8.self)
        var o = 1
        let keyLength = readVarint(c, &o)
        let valueLength = readVarint(c, &o)
        if flags == 0 {
            return LeafValue(inline: UnsafeRawBufferPointer(start: c + o + keyLength, count: valueLength), length: valueLength, overflow: 0, skip: 0)
        }
        let p = readVarint(c, &o)
        return LeafValue(inline: nil, length: valueLength, overflow: c.u64(o + p), skip: keyLength - p)
    }

    /// Size in bytes of cell `i` (without its slot).
    func cellSize(_ i: Int) -> Int { Node.size(ofCell: cell(i), leaf: isLeaf) }

    static func size(ofCell c: UnsafeMutableRawPointer, leaf: Bool) -> Int {
        let flags = c.load(as: UInt8.self)
        var o = 1
        if leaf {
            let keyLength = readVarint(c, &o)
            let valueLength = readVarint(c, &o)
            if flags == 0 { return o + keyLength + valueLength }
            let p = readVarint(c, &o)
            return o + p + 8
        } else {
            o += 8
            let keyLength = readVarint(c, &o)
            if flags == 0 { return o + keyLength }
            let p = readVarint(c, &o)
            return o + p + 8
        }
    }

    /// Cell `i`'s bytes, copied.
    func cellBytes(_ i: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: cell(i), count: cellSize(i)))
    }

    // MARK: Editing

    /// Inserts `bytes` as cell `i`. Returns false, changing nothing, if the page is too full.
    func insert(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Bool {
        let need = bytes.count + 2
        if freeBytes < need { return false }
        if contentStart - PageLayout.headerSize - 2 * count < need { compact() }
        let start = contentStart - bytes.count
        (base + start).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        contentStart = start
        let slots = base + PageLayout.headerSize
        let n = count
        if i < n { memmove(slots + 2 * (i + 1), slots + 2 * i, 2 * (n - i)) }
        base.setU16(PageLayout.headerSize + 2 * i, start)
        count = n + 1
        return true
    }

    func insert(_ bytes: [UInt8], at i: Int) -> Bool {
        bytes.withUnsafeBytes { insert($0, at: i) }
    }

    /// Removes cell `i` (its overflow pages are the caller's business).
    func remove(at i: Int) {
        let offset = slot(i)
        let size = cellSize(i)
        if offset == contentStart { contentStart = offset + size } else { fragmented += size }
        let slots = base + PageLayout.headerSize
        let n = count
        if i < n - 1 { memmove(slots + 2 * i, slots + 2 * (i + 1), 2 * (n - 1 - i)) }
        count = n - 1
        if count == 0 { contentStart = pageSize; fragmented = 0 }
    }

    /// Packs the cells at the end of the page, removing fragments.
    func compact() {
        let n = count
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
        defer { scratch.deallocate() }
        scratch.copyMemory(from: base, byteCount: pageSize)
        let old = Node(base: scratch, pageSize: pageSize)
        var top = pageSize
        for i in 0..<n {
            let size = old.cellSize(i)
            top -= size
            (base + top).copyMemory(from: old.cell(i), byteCount: size)
            base.setU16(PageLayout.headerSize + 2 * i, top)
        }
        contentStart = top
        fragmented = 0
    }

    /// Replaces all cells with `cells`, in order (they must fit).
    func rebuild(_ cells: ArraySlice<[UInt8]>, link newLink: UInt64) {
        let t = type
        count = 0
        contentStart = pageSize
        fragmented = 0
        base.storeBytes(of: t, toByteOffset: 4, as: UInt8.self)
        link = newLink
        for c in cells {
            let ok = insert(c, at: count)
            precondition(ok, "rebuild: cells do not fit in one page")
        }
    }

    // MARK: Search

    /// The first index whose key is >= `key` (count if none), and whether it is equal.
    /// `fullKey` loads the whole key of an overflow cell when its prefix is not enough.
    func search(_ target: UnsafeRawBufferPointer, fullKey: (CellKey) throws(EngineError) -> [UInt8]) throws(EngineError) -> (index: Int, found: Bool) {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) >> 1
            let c = try key(mid).compare(to: target, fullKey: fullKey)
            if c < 0 { low = mid + 1 } else if c > 0 { high = mid } else { return (mid, true) }
        }
        return (low, false)
    }
}

/// A cell's key: the bytes inline in the page and, for long keys, the overflow chain with the rest.
struct CellKey {
    var bytes: UnsafeRawPointer
    var inlineCount: Int
    var fullCount: Int
    var overflow: UInt64

    var isComplete: Bool { inlineCount == fullCount }

    /// This key compared with `other` (negative: this key sorts first).
    @inline(__always)
    func compare(to other: UnsafeRawBufferPointer, fullKey: (CellKey) throws(EngineError) -> [UInt8]) throws(EngineError) -> Int {
        if isComplete { return compareBytes(bytes, inlineCount, other.baseAddress, other.count) }
        let n = min(inlineCount, other.count)
        let c = n > 0 ? Int(memcmp(bytes, other.baseAddress!, n)) : 0
        if c != 0 { return c }
        if other.count <= inlineCount { return 1 }  // other is a prefix of this longer key
        let full = try fullKey(self)
        return full.withUnsafeBytes { compareBytes($0.baseAddress, $0.count, other.baseAddress, other.count) }
    }
}

/// A leaf record's value: inline, or `length` bytes in an overflow chain after `skip` key bytes.
struct LeafValue {
    var inline: UnsafeRawBufferPointer?
    var length: Int
    var overflow: UInt64
    var skip: Int
}

import KVCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
