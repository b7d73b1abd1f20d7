// An in-memory search index per cached page: its keys' common prefix and a contiguous array of
// the next four bytes of each key, so a reader's binary search touches one or two cache lines
// of the array and one cell instead of a cell (and a slot) per probe.

import Synchronization

/// The prefix index ("sidecar") of a branch or leaf page, kept in memory only, right after the
/// page's bytes in the same allocation (`Page.make`); the on-disk format is unchanged.
///
/// Layout (`trailerBytes(pageSize)` bytes at `page.bytes + pageSize`, 8-aligned):
///
///     offset size  field
///     0      4     state (atomic): 0 not built, 1 being built, 2 ready, 3 unusable
///     4      2     common prefix length P (at most `maximumPrefix`)
///     6      2     key count n
///     8      32    the first P bytes shared by every key of the page
///     40     4*n   word i: bytes P..<P+4 of key i, zero-padded, as a big-endian UInt32
///
/// All keys of a sorted page share the common prefix of its lowest and highest key. Word order
/// implies key order when words differ (a zero pad sorts below any byte, and a key ending
/// inside the word is a prefix of any longer key with the same bytes), so the search narrows
/// the target to the run of equal words by the array alone and compares whole keys only there
/// (usually one cell: the 16-byte decimal keys of the benchmark share ~13 bytes per leaf).
///
/// Built lazily by the first reader that searches the page (a compare-exchange 0 → 1 elects
/// one builder; others search the cells meanwhile) and published with a releasing store of 2.
/// Only pages a reader can reach are indexed, and the writer never changes such a page in place
/// (copy-on-write, see `Pager.writable`); a page the writer does change in place (created by an
/// earlier write call that no pinned reader can still reach) has its state reset to 0 by
/// `Pager.writable` before any change, with readers locked out of pinning meanwhile. Pages with
/// an overflow key, more keys than the array holds, or no keys are marked unusable (3) and
/// searched as before.
///
/// The trailer's bytes count toward the page cache's size (`BTreeEngine` divides the cache's
/// bytes by `pageSize + trailerBytes(pageSize)`).
struct PrefixIndex {
    /// Start of the trailer (`page.bytes + pageSize`).
    let base: UnsafeMutableRawPointer

    static let notBuilt: UInt32 = 0
    static let building: UInt32 = 1
    static let ready: UInt32 = 2
    static let unusable: UInt32 = 3
    static let headerBytes = 40
    static let maximumPrefix = 32

    /// Trailer size for pages of `pageSize` bytes: an eighth of the page (126 words at 4 KiB).
    static func trailerBytes(_ pageSize: Int) -> Int { max(headerBytes + 16, pageSize / 8) }
    /// Keys a trailer of a `pageSize`-byte page can index.
    static func capacity(_ pageSize: Int) -> Int { (trailerBytes(pageSize) - headerBytes) / 4 }

    @inline(__always)
    private var state: UnsafeMutablePointer<Atomic<UInt32>> { base.assumingMemoryBound(to: Atomic<UInt32>.self) }

    /// Sets up the state word of a new page's trailer.
    static func initialize(at base: UnsafeMutableRawPointer) {
        base.bindMemory(to: Atomic<UInt32>.self, capacity: 1).initialize(to: Atomic(notBuilt))
    }

    /// Forgets the index (the writer is about to change the page in place; no reader is on it).
    @inline(__always)
    func reset() { state.pointee.store(Self.notBuilt, ordering: .releasing) }

    /// Current state (tests).
    var currentState: UInt32 { state.pointee.load(ordering: .acquiring) }

    /// The first index of `node` whose key is >= `target` and whether it is equal, as
    /// `Node.search`; nil if the page has no usable index (the caller searches the cells).
    @inline(__always)
    func search(_ node: Node, _ target: UnsafeRawBufferPointer) -> (index: Int, found: Bool)? {
        var s = state.pointee.load(ordering: .acquiring)
        if s != Self.ready {
            guard s == Self.notBuilt, state.pointee.compareExchange(expected: Self.notBuilt, desired: Self.building, ordering: .acquiring).exchanged else { return nil }
            s = build(node)
            state.pointee.store(s, ordering: .releasing)
            if s != Self.ready { return nil }
        }
        return lookup(node, target)
    }

    /// Fills the trailer from `node`'s keys; returns `ready` or `unusable`.
    private func build(_ node: Node) -> UInt32 {
        let n = node.count
        guard n > 0, n <= Self.capacity(node.pageSize) else { return Self.unusable }
        let leaf = node.isLeaf
        let first = Node.key(ofCell: node.cell(0), leaf: leaf)
        let last = Node.key(ofCell: node.cell(n - 1), leaf: leaf)
        guard first.isComplete, last.isComplete else { return Self.unusable }
        var p = 0
        let limit = min(first.inlineCount, last.inlineCount, Self.maximumPrefix)
        while p < limit && first.bytes.load(fromByteOffset: p, as: UInt8.self) == last.bytes.load(fromByteOffset: p, as: UInt8.self) { p += 1 }
        let words = (base + Self.headerBytes).assumingMemoryBound(to: UInt32.self)
        for i in 0..<n {
            let k = Node.key(ofCell: node.cell(i), leaf: leaf)
            guard k.isComplete else { return Self.unusable }
            words[i] = Self.word(k.bytes, k.inlineCount, p)
        }
        base.setU16(4, p)
        base.setU16(6, n)
        if p > 0 { (base + 8).copyMemory(from: first.bytes, byteCount: p) }
        return Self.ready
    }

    /// Bytes `p..<p+4` of a `count`-byte key, zero-padded, as a big-endian number.
    @inline(__always)
    static func word(_ bytes: UnsafeRawPointer, _ count: Int, _ p: Int) -> UInt32 {
        if count >= p + 4 { return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: p, as: UInt32.self)) }
        var w: UInt32 = 0
        for j in 0..<4 {
            let b: UInt32 = p + j < count ? UInt32(bytes.load(fromByteOffset: p + j, as: UInt8.self)) : 0
            w = w << 8 | b
        }
        return w
    }

    /// If the index is ready, what in it disagrees with `node`'s keys (nil: nothing, or not
    /// built). For the invariant check: a ready index must describe the page as it is now.
    func staleness(_ node: Node) -> String? {
        guard currentState == Self.ready else { return nil }
        let p = base.u16(4), n = base.u16(6)
        if n != node.count { return "indexes \(n) keys, page has \(node.count)" }
        let words = UnsafeRawPointer(base + Self.headerBytes).assumingMemoryBound(to: UInt32.self)
        for i in 0..<n {
            let k = node.key(i)
            if !k.isComplete || k.inlineCount < p { return "key \(i) is shorter than the \(p)-byte common prefix or not inline" }
            if p > 0 && memcmp(k.bytes, base + 8, p) != 0 { return "key \(i) does not start with the common prefix" }
            if words[i] != Self.word(k.bytes, k.inlineCount, p) { return "word \(i) is not bytes \(p)..<\(p + 4) of key \(i)" }
        }
        return nil
    }

    @inline(__always)
    private func lookup(_ node: Node, _ target: UnsafeRawBufferPointer) -> (index: Int, found: Bool) {
        let p = base.u16(4), n = base.u16(6)
        let t = target.baseAddress
        // The target against the common prefix: outside it, it sorts before or after every key.
        if p > 0 {
            let m = min(p, target.count)
            let c = m > 0 ? memcmp(t!, base + 8, m) : 0
            if c < 0 || (c == 0 && target.count < p) { return (0, false) }  // a proper prefix sorts first
            if c > 0 { return (n, false) }
        }
        let w = Self.word(t ?? UnsafeRawPointer(base), target.count, p)
        let words = UnsafeRawPointer(base + Self.headerBytes).assumingMemoryBound(to: UInt32.self)
        // Lower bound of w, branch-light: the array is short and contiguous.
        var low = 0, length = n
        while length > 0 {
            let half = length >> 1
            if words[low + half] < w { low += half + 1; length -= half + 1 } else { length = half }
        }
        var high = low
        while high < n && words[high] == w { high += 1 }
        // Keys with a smaller word sort below the target, those with a larger one above it.
        let leaf = node.isLeaf
        while low < high {
            let mid = (low + high) >> 1
            let k = Node.key(ofCell: node.cell(mid), leaf: leaf)
            let c = compareBytes(k.bytes, k.inlineCount, t, target.count)
            if c < 0 { low = mid + 1 } else if c > 0 { high = mid } else { return (mid, true) }
        }
        return (low, false)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
