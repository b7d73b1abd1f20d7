// The two meta pages at the start of the data file: which tree is current, switched atomically.

import KVStorage

/// The contents of a meta page. Pages 0 and 1 are meta pages. One slot holds the newest meta
/// known to be durable (fsynced after its pages were written); commits write the other slot,
/// so the durable meta stays intact while newer ones are written (see `BTreeEngine` for when
/// the roles swap).
///
/// Two kinds of meta:
/// - a **checkpoint** (flag bit 0; written by `close()` and by `buffered` commits) stores the
///   free list and is written only after its pages were fsynced: open trusts it as it is;
/// - a **group commit** meta stores no free list and may reach the disk before the pages it
///   points at (periodic fsync, machine crash): open checks it by walking its tree — every
///   page readable and checksummed, and the tree's page count, record count and page digest
///   (a wrapping sum of a hash of each tree page's number and checksum) equal to what the
///   meta records — and rebuilds the free list from the walk; a meta that fails is skipped.
/// On open the newest meta (transaction id) that passes wins.
///
/// Layout (little-endian; the rest of the page is zero):
///
///     offset size  field
///     0      4     CRC-32C of bytes 4..<pageSize
///     4      1     page type 1 (meta)
///     5      1     format version: 2 (1 before group commits)
///     6      2     reserved, 0
///     8      8     slot: 0 or 1, the page's own number
///     16     8     magic "KVBTREE1" (u64 0x314545525442564B)
///     24     4     page size in bytes
///     28     4     tree height (0: empty tree, 1: the root is a leaf)
///     32     8     transaction id (0 and 1 at creation, +1 per commit)
///     40     8     root page (0: empty tree)
///     48     8     page count: pages in use from the start of the file (the high-water mark)
///     56     8     first free-list page (0: none)
///     64     8     free page ids stored in the free-list chain
///     72     8     record count
///     80     4     flags: bit 0 checkpoint (free list stored, pages fsynced first), bit 1 digest valid
///     84     4     reserved, 0
///     88     8     tree digest: wrapping sum of `pageDigest(number, checksum)` over the tree's
///                  branch, leaf and overflow pages
///     96     8     tree pages: how many pages the tree reaches (free-list pages excluded)
///
/// Format version 1 (before group commits) ends at byte 80; it is read as a checkpoint whose
/// digest is computed at open.
struct MetaPage: Equatable {
    static let magic: UInt64 = 0x3145_4552_5442_564B  // bytes 4B 56 42 54 52 45 45 31, "KVBTREE1"
    static let version: UInt8 = 2

    var transaction: UInt64 = 0
    var root: UInt64 = 0
    var height: Int = 0
    var pageCount: UInt64 = 2
    var freeListHead: UInt64 = 0
    var freeListCount: UInt64 = 0
    var recordCount: UInt64 = 0
    /// A checkpoint: the free list is stored and the pages were durable before this meta.
    var isCheckpoint = true
    /// Whether `treeDigest` and `treePages` are known (false for format version 1).
    var hasDigest = true
    var treeDigest: UInt64 = 0
    var treePages: UInt64 = 0

    /// The digest term of one tree page: its number and checksum, mixed (SplitMix64's finalizer).
    @inline(__always)
    static func pageDigest(_ number: UInt64, _ checksum: UInt32) -> UInt64 {
        var z = number &* 0x9E37_79B9_7F4A_7C15 ^ (UInt64(checksum) << 17 | UInt64(checksum))
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Writes this meta into `page` (slot `page.number`), checksum included.
    func encode(into page: Page) {
        let p = page.bytes
        memset(p, 0, page.size)
        p.storeBytes(of: PageType.meta.rawValue, toByteOffset: 4, as: UInt8.self)
        p.storeBytes(of: Self.version, toByteOffset: 5, as: UInt8.self)
        p.setU64(8, page.number)
        p.setU64(16, Self.magic)
        p.setU32(24, UInt32(page.size))
        p.setU32(28, UInt32(height))
        p.setU64(32, transaction)
        p.setU64(40, root)
        p.setU64(48, pageCount)
        p.setU64(56, freeListHead)
        p.setU64(64, freeListCount)
        p.setU64(72, recordCount)
        p.setU32(80, (isCheckpoint ? 1 : 0) | (hasDigest ? 2 : 0))
        p.setU64(88, treeDigest)
        p.setU64(96, treePages)
        page.seal()
    }

    /// The meta in `page`, or nil (with the reason) if it is not a valid meta page for `slot`.
    static func decode(_ page: Page, slot: UInt64) -> Result<MetaPage, MetaPageError> {
        let p = page.bytes
        guard p.u64(16) == magic else { return .failure(.init(detail: "no meta page magic")) }
        guard p.u32(24) == UInt32(page.size) else { return .failure(.init(detail: "page size \(p.u32(24)) in the meta page, \(page.size) expected")) }
        guard page.checksumMatches else { return .failure(.init(detail: "meta page checksum mismatch")) }
        guard p.load(fromByteOffset: 4, as: UInt8.self) == PageType.meta.rawValue, p.u64(8) == slot else {
            return .failure(.init(detail: "meta page \(slot) names slot \(p.u64(8))"))
        }
        let format = p.load(fromByteOffset: 5, as: UInt8.self)
        guard format == 1 || format == version else { return .failure(.init(detail: "unknown format version \(format)")) }
        var m = MetaPage()
        m.height = Int(p.u32(28))
        m.transaction = p.u64(32)
        m.root = p.u64(40)
        m.pageCount = p.u64(48)
        m.freeListHead = p.u64(56)
        m.freeListCount = p.u64(64)
        m.recordCount = p.u64(72)
        if format == 1 {
            m.isCheckpoint = true
            m.hasDigest = false
        } else {
            let flags = p.u32(80)
            m.isCheckpoint = flags & 1 != 0
            m.hasDigest = flags & 2 != 0
            m.treeDigest = p.u64(88)
            m.treePages = p.u64(96)
        }
        guard m.pageCount >= 2, m.root < m.pageCount, m.freeListHead < m.pageCount else {
            return .failure(.init(detail: "meta page fields out of range (root \(m.root), page count \(m.pageCount))"))
        }
        return .success(m)
    }

    /// The page size recorded in a meta page's raw bytes (unverified), to locate slot 1.
    static func recordedPageSize(_ header: [UInt8]) -> Int? {
        guard header.count >= 28 else { return nil }
        let magicOK = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) } == magic.littleEndian
        guard magicOK else { return nil }
        let size = header.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt32.self))) }
        return size
    }
}

struct MetaPageError: Error { var detail: String }

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
