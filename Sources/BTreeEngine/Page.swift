// One page of the data file: the slotted layout shared by branch, leaf, overflow and free-list pages.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVStorage

/// What a page holds (byte 4 of every page).
enum PageType: UInt8 {
    case meta = 1
    case branch = 2
    case leaf = 3
    case overflow = 4
    case freeList = 5
}

/// A page of the data file in memory: `pageSize` bytes, its number, and whether the current
/// write transaction created it (dirty pages are written at commit and never evicted before).
///
/// Every page except the two meta pages starts with the same 32-byte header (little-endian):
///
///     offset size  field
///     0      4     CRC-32C of bytes 4..<pageSize (the whole page after the checksum)
///     4      1     page type: 2 branch, 3 leaf, 4 overflow, 5 free list
///     5      1     reserved, 0
///     6      2     cell count (branch, leaf), id count (free list), payload bytes (overflow)
///     8      8     this page's own number (a page written at the wrong offset fails the check)
///     16     2     cell content start: offset of the lowest cell byte (pageSize when empty)
///     18     2     fragmented bytes: cell bytes freed inside the content area
///     20     4     reserved, 0
///     24     8     link: rightmost child (branch), next page of the chain (overflow, free
///                  list), 0 (leaf)
///
/// Branch and leaf pages are slotted pages: after the header an array of `count` u16 cell
/// offsets, sorted by key; cells are packed from the end of the page downwards, in any order.
///
/// Leaf cell:
///
///     u8 flags (0: key and value inline, 1: overflow)
///     varint key length, varint value length
///     inline:   key bytes, value bytes
///     overflow: varint inline key prefix length p, the first p key bytes,
///               u64 first overflow page; the chain holds key[p...] and then the whole value
///
/// Branch cell (child holds the keys below this cell's key and at or above the previous
/// cell's key; the header's link holds the keys at or above the last cell's key):
///
///     u8 flags (0: key inline, 1: overflow), u64 child page, varint key length
///     inline:   key bytes
///     overflow: varint prefix length p, the first p key bytes, u64 first overflow page
///               (the chain holds key[p...])
///
/// Overflow page: header (count = payload bytes in this page, link = next page or 0), then
/// payload. Free-list page: header (count = ids in this page, link = next page or 0), then
/// `count` u64 page numbers.
final class Page: ManagedBuffer<PageState, UInt8> {
    /// A page of `size` bytes (uninitialized) numbered `number`. The bytes live in the same
    /// allocation as the object: one pointer chase fewer per page visited. The page's
    /// `PrefixIndex` trailer follows them, not yet built.
    static func make(number: UInt64, size: Int) -> Page {
        let buffer = Page.create(minimumCapacity: size + PrefixIndex.trailerBytes(size)) { _ in PageState(number: number, size: size) }
        let page = unsafeDowncast(buffer, to: Page.self)
        PrefixIndex.initialize(at: page.bytes + size)
        return page
    }

    @inline(__always) var bytes: UnsafeMutableRawPointer {
        withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) }
    }
    @inline(__always) var number: UInt64 {
        get { header.number }
        set { header.number = newValue }
    }
    @inline(__always) var size: Int { header.size }
    /// The write call that created this page (0: read from disk).
    @inline(__always) var version: UInt64 {
        get { header.version }
        set { header.version = newValue }
    }
    /// Created by the current write transaction: written at commit, never evicted before it.
    @inline(__always) var isDirty: Bool {
        get { header.isDirty }
        set { header.isDirty = newValue }
    }
    /// The page cache frame holding this page (-1: none); the cache's business.
    @inline(__always) var frame: Int {
        get { header.frame }
        set { header.frame = newValue }
    }

    @inline(__always) var node: Node { Node(base: bytes, pageSize: size) }
    /// The in-memory prefix index after the page's bytes (`PrefixIndex`).
    @inline(__always) var prefixIndex: PrefixIndex { PrefixIndex(base: bytes + size) }
}

/// A cached page's bookkeeping, stored in front of its bytes.
struct PageState {
    var number: UInt64
    var size: Int
    var version: UInt64 = 0
    var isDirty = false
    var frame = -1
}

/// Byte layout constants.
enum PageLayout {
    static let headerSize = 32
    static let minimumPageSize = 512
    static let maximumPageSize = 32768

    /// Bytes for cells and slots in a branch or leaf page.
    static func capacity(_ pageSize: Int) -> Int { pageSize - headerSize }
    /// The largest cell kept inline (slot included): a quarter of the page, so a page holds
    /// at least four cells and a split always leaves both halves at least 3/8 full.
    static func maximumCell(_ pageSize: Int) -> Int { capacity(pageSize) / 4 - 2 }
    /// The key prefix kept inline by an overflow cell.
    static func maximumKeyPrefix(_ pageSize: Int) -> Int { maximumCell(pageSize) - 40 }
    /// Payload bytes per overflow page.
    static func overflowPayload(_ pageSize: Int) -> Int { pageSize - headerSize }
    /// Page numbers per free-list page.
    static func freeListIDs(_ pageSize: Int) -> Int { (pageSize - headerSize) / 8 }
}

// MARK: - Little-endian access

extension UnsafeMutableRawPointer {
    @inline(__always) func u16(_ offset: Int) -> Int { Int(UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))) }
    @inline(__always) func setU16(_ offset: Int, _ value: Int) { storeBytes(of: UInt16(value).littleEndian, toByteOffset: offset, as: UInt16.self) }
    @inline(__always) func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    @inline(__always) func setU32(_ offset: Int, _ value: UInt32) { storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self) }
    @inline(__always) func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    @inline(__always) func setU64(_ offset: Int, _ value: UInt64) { storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self) }
}

@inline(__always)
func readVarint(_ p: UnsafeMutableRawPointer, _ offset: inout Int) -> Int {
    var result = 0
    var shift = 0
    while true {
        let byte = Int(p.load(fromByteOffset: offset, as: UInt8.self))
        offset += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80 { return result }
        shift += 7
    }
}

@inline(__always)
func writeVarint(_ p: UnsafeMutableRawPointer, _ offset: inout Int, _ value: Int) {
    var v = UInt64(value)
    while v >= 0x80 {
        p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: offset, as: UInt8.self)
        offset += 1
        v >>= 7
    }
    p.storeBytes(of: UInt8(v), toByteOffset: offset, as: UInt8.self)
    offset += 1
}

@inline(__always)
func varintSize(_ value: Int) -> Int {
    var v = UInt64(value), n = 1
    while v >= 0x80 { v >>= 7; n += 1 }
    return n
}

/// Unsigned byte-order comparison: negative, zero or positive.
@inline(__always)
func compareBytes(_ a: UnsafeRawPointer?, _ aCount: Int, _ b: UnsafeRawPointer?, _ bCount: Int) -> Int {
    let n = min(aCount, bCount)
    // First eight bytes as big-endian words: most comparisons end there without a call.
    if n >= 8 {
        let x = UInt64(bigEndian: a!.loadUnaligned(as: UInt64.self)), y = UInt64(bigEndian: b!.loadUnaligned(as: UInt64.self))
        if x != y { return x < y ? -1 : 1 }
        if n == 8 { return aCount - bCount }
    }
    if n > 0 {
        let c = memcmp(a!, b!, n)
        if c != 0 { return Int(c) }
    }
    return aCount - bCount
}

// MARK: - Checksums

extension Page {
    /// Stores the page number and the checksum; called just before the page is written.
    func seal() {
        if node.type != PageType.meta.rawValue { bytes.setU64(8, number) }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: bytes + 4, count: size - 4))
        bytes.setU32(0, crc)
    }

    /// Whether the stored checksum matches the contents.
    var checksumMatches: Bool {
        CRC32C.checksum(UnsafeRawBufferPointer(start: bytes + 4, count: size - 4)) == bytes.u32(0)
    }
}
