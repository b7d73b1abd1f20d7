// An immutable, cache-line-blocked search index over a skiplist's tall nodes: where a lookup starts its descent.

import KVCore
import Synchronization

/// A static search tree over the nodes of height ≥ `SearchIndexPolicy.level` of a `SkipList`,
/// built by a writer and published for lock-free readers (layout and rules on `SkipList`).
///
/// One 64-byte-aligned allocation:
///
///     header (64 bytes)   entries m, shift s, common prefix (2 words), levels L, byte offsets
///                         of the references and of the retired bits, total bytes
///     level table         per level: byte offset, block count (16 bytes each, L ≤ 15)
///     levels L-1 ... 0    blocks of 8 sorted UInt64 keys (64 bytes, one cache line); level 0
///                         holds entry i's key at slot i, level l+1's key j is the last key of
///                         level l's block j; missing slots hold UInt64.max
///     references          m node references (address bits), entry order
///     retired bits        ceil(m/64) atomic words: entry i's node was unlinked
///
/// Keys are the entries' 16-byte prefixes with the `s` leading bits they all share removed,
/// cut to the next 64 bits, so eight fit in a cache line: for the bench's zero-padded decimal
/// keys (first 10 bytes shared) the cut keeps every digit that differs. Cutting keeps order
/// but may tie: an entry is only taken as a start when its cut key is strictly below the
/// target's, which implies its full prefix is too, hence its key (`KeyComparator.prefix`'s
/// contract).
///
/// A lookup visits one block per level (L = 6 for 62,500 entries, the upper four levels in
/// 8.5 KiB that stay cached) and one reference, against the ~16 nodes of height ≥ 5 a search
/// from the head walks through at 1M keys.
@usableFromInline
struct SkipListSearchIndex {
    @usableFromInline let base: UnsafeMutableRawPointer

    @inlinable
    init(_ base: UnsafeMutableRawPointer) { self.base = base }

    @usableFromInline static let headerSize = 64
    @usableFromInline static let maxLevels = 15
    @usableFromInline static let blockKeys = 8

    @inlinable var count: Int { base.load(as: Int.self) }
    @inlinable var shift: Int { base.load(fromByteOffset: 8, as: Int.self) }
    @inlinable var common: KeyPrefix {
        KeyPrefix(high: base.load(fromByteOffset: 16, as: UInt64.self), low: base.load(fromByteOffset: 24, as: UInt64.self))
    }
    @inlinable var levels: Int { base.load(fromByteOffset: 32, as: Int.self) }
    @inlinable var references: UnsafeMutablePointer<Int> {
        (base + base.load(fromByteOffset: 40, as: Int.self)).assumingMemoryBound(to: Int.self)
    }
    @inlinable var retiredBits: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + base.load(fromByteOffset: 48, as: Int.self)).assumingMemoryBound(to: Atomic<UInt64>.self)
    }
    /// The level a lookup descends from at the start node (the policy's level - 1).
    @inlinable var startLevel: Int { base.load(fromByteOffset: 56, as: Int.self) }

    @inlinable @inline(__always)
    func levelOffset(_ level: Int) -> Int { base.load(fromByteOffset: Self.headerSize + 16 * level, as: Int.self) }
    @inlinable @inline(__always)
    func levelBlocks(_ level: Int) -> Int { base.load(fromByteOffset: Self.headerSize + 16 * level + 8, as: Int.self) }
    /// Level 0's keys, entry order.
    @inlinable var keys: UnsafeMutablePointer<UInt64> {
        (base + levelOffset(0)).assumingMemoryBound(to: UInt64.self)
    }

    /// The 64 bits of `prefix` that follow its first `shift` bits (zeros past bit 128).
    @inlinable @inline(__always)
    static func cut(_ prefix: KeyPrefix, shift: Int) -> UInt64 {
        if shift == 0 { return prefix.high }
        if shift < 64 { return prefix.high << UInt64(shift) | prefix.low >> UInt64(64 - shift) }
        if shift < 128 { return prefix.low << UInt64(shift - 64) }
        return 0
    }

    /// Number of leading bits `a` and `b` share (128 if equal).
    @inlinable @inline(__always)
    static func commonBits(_ a: KeyPrefix, _ b: KeyPrefix) -> Int {
        let high = a.high ^ b.high
        if high != 0 { return high.leadingZeroBitCount }
        return 64 + (a.low ^ b.low).leadingZeroBitCount
    }

    /// How many entries have a prefix known to be strictly below `target` (they form a prefix
    /// of the entries; entries whose cut key ties the target's are not counted).
    @inlinable @inline(__always)
    func countBelow(_ target: KeyPrefix) -> Int {
        let m = count
        let s = shift
        let c = common
        if Self.commonBits(target, c) < s {
            // The target leaves the shared leading bits: it is before or after every entry.
            return c.isBefore(target) ? m : 0
        }
        let t = Self.cut(target, shift: s)
        var block = 0
        var level = levels - 1
        while true {
            let keys = (base + levelOffset(level) + block * 64).assumingMemoryBound(to: UInt64.self)
            var below = 0
            for slot in 0..<Self.blockKeys where keys[slot] < t { below += 1 }
            let position = block * Self.blockKeys + below
            if level == 0 { return min(position, m) }
            // Past the last block below: every key under this one is below the target.
            if position >= levelBlocks(level - 1) { return m }
            block = position
            level -= 1
        }
    }

    /// True if entry `i`'s node has been unlinked (acquire: pairs with the writer's store
    /// made before its unlinking stores).
    @inlinable @inline(__always)
    func isRetired(_ i: Int) -> Bool {
        (retiredBits + (i >> 6)).pointee.load(ordering: .acquiring) & (1 << UInt64(i & 63)) != 0
    }

    /// The last entry whose node is strictly before `target` and not retired, looking back at
    /// most `lookBack` entries past retired ones; nil if there is none (start from the head).
    @inlinable @inline(__always)
    func start(before target: KeyPrefix, lookBack: Int = 4) -> SkipListNode? {
        var i = countBelow(target) - 1
        var tries = 0
        while i >= 0 && tries < lookBack {
            if !isRetired(i) { return SkipListNode(UnsafeMutableRawPointer(bitPattern: references[i])!) }
            i -= 1
            tries += 1
        }
        return nil
    }

    /// The entry holding `node`, if any (writer only; for marking it retired).
    @usableFromInline
    func entry(of node: SkipListNode) -> Int? {
        let prefix = node.prefix
        guard Self.commonBits(prefix, common) >= shift else { return nil }
        let t = Self.cut(prefix, shift: shift)
        // First entry with key >= t, then the run of equal cut keys.
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if keys[mid] < t { low = mid + 1 } else { high = mid }
        }
        let target = Int(bitPattern: node.reference)
        var i = low
        while i < count && keys[i] == t {
            if references[i] == target { return i }
            i += 1
        }
        return nil
    }

    /// Marks entry `i` retired (writer only; before the node's unlinking stores, which are
    /// releases and so order this store before them).
    @usableFromInline
    func markRetired(_ i: Int) {
        let word = retiredBits + (i >> 6)
        word.pointee.store(word.pointee.load(ordering: .relaxed) | 1 << UInt64(i & 63), ordering: .releasing)
    }

    /// Builds an index over the `count` nodes linked on `level` after `head` (the writer holds
    /// the lock, so they do not change), whose first and last prefixes are `first` and `last`;
    /// nil for no nodes. Written straight into the index's allocation, with no temporary arrays:
    /// a build made during a fill would otherwise leave ~24 B per entry of freed pages behind.
    @usableFromInline
    static func build(head: SkipListNode, level: Int, count m: Int, first: KeyPrefix, last: KeyPrefix) -> (index: SkipListSearchIndex, bytes: Int)? {
        guard m > 0 else { return nil }
        let s = commonBits(first, last)
        var blocks: [Int] = []
        var keysAtLevel = m
        repeat {
            let b = (keysAtLevel + blockKeys - 1) / blockKeys
            blocks.append(b)
            keysAtLevel = b
        } while keysAtLevel > 1 && blocks.count < maxLevels
        precondition(keysAtLevel == 1, "a skiplist search index over \(m) entries needs more than \(maxLevels) levels")
        let levelCount = blocks.count
        let tableEnd = headerSize + 16 * maxLevels
        var offset = (tableEnd + 63) & ~63
        var levelOffsets = [Int](repeating: 0, count: levelCount)
        for level in 0..<levelCount {
            levelOffsets[level] = offset
            offset += blocks[level] * 64
        }
        let referencesOffset = offset
        offset += m * 8
        let bitsOffset = offset
        offset += ((m + 63) / 64) * 8
        let total = offset
        let base = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        base.storeBytes(of: m, as: Int.self)
        base.storeBytes(of: s, toByteOffset: 8, as: Int.self)
        base.storeBytes(of: first.high, toByteOffset: 16, as: UInt64.self)
        base.storeBytes(of: first.low, toByteOffset: 24, as: UInt64.self)
        base.storeBytes(of: levelCount, toByteOffset: 32, as: Int.self)
        base.storeBytes(of: referencesOffset, toByteOffset: 40, as: Int.self)
        base.storeBytes(of: bitsOffset, toByteOffset: 48, as: Int.self)
        base.storeBytes(of: level, toByteOffset: 56, as: Int.self)
        for l in 0..<maxLevels {
            base.storeBytes(of: l < levelCount ? levelOffsets[l] : 0, toByteOffset: headerSize + 16 * l, as: Int.self)
            base.storeBytes(of: l < levelCount ? blocks[l] : 0, toByteOffset: headerSize + 16 * l + 8, as: Int.self)
        }
        // Level 0: the cut keys and the references, in list order.
        let level0 = (base + levelOffsets[0]).assumingMemoryBound(to: UInt64.self)
        let references = (base + referencesOffset).assumingMemoryBound(to: Int.self)
        var node = head.next(level)
        for i in 0..<m {
            guard let current = node else { preconditionFailure("level \(level) holds fewer than the \(m) nodes counted") }
            level0[i] = cut(current.prefix, shift: s)
            references[i] = Int(bitPattern: current.reference)
            node = current.next(level)
        }
        for i in m..<blocks[0] * blockKeys { level0[i] = .max }
        // Level l+1: the last key of each block of level l.
        for l in 1..<max(levelCount, 1) {
            let below = (base + levelOffsets[l - 1]).assumingMemoryBound(to: UInt64.self)
            let here = (base + levelOffsets[l]).assumingMemoryBound(to: UInt64.self)
            for j in 0..<blocks[l] * blockKeys {
                here[j] = j < blocks[l - 1] ? below[j * blockKeys + blockKeys - 1] : .max
            }
        }
        let bits = (base + bitsOffset).assumingMemoryBound(to: Atomic<UInt64>.self)
        for w in 0..<(m + 63) / 64 { (bits + w).initialize(to: Atomic<UInt64>(0)) }
        return (SkipListSearchIndex(base), total)
    }

    /// Frees the allocation (no reader may still use it).
    @usableFromInline
    func deallocate() { base.deallocate() }
}

/// When a `SkipList` keeps a search index and over which nodes.
public struct SearchIndexPolicy: Sendable {
    /// Nodes of height ≥ `level` are indexed; a lookup descends from level `level - 1`.
    /// 0 turns the index off.
    public var level: Int
    /// No index while fewer nodes than this would be in it (a short search is cheap anyway).
    public var minimumEntries: Int
    /// Rebuild once this many inserts happened since the last build, as a fraction of the
    /// record count at that build (new tall nodes are not indexed; a stale index only costs
    /// forward steps at level `level - 1`).
    public var rebuildAfterInsertFraction: Double
    /// Rebuild once this fraction of the entries has been retired (each retired entry sends
    /// its lookups to an earlier entry or to the head).
    public var rebuildAfterRetiredFraction: Double

    /// A policy.
    public init(level: Int, minimumEntries: Int = 64, rebuildAfterInsertFraction: Double = 0.25,
                rebuildAfterRetiredFraction: Double = 0.125) {
        self.level = level
        self.minimumEntries = minimumEntries
        self.rebuildAfterInsertFraction = rebuildAfterInsertFraction
        self.rebuildAfterRetiredFraction = rebuildAfterRetiredFraction
    }

    /// No index: every search starts at the head.
    public static var off: SearchIndexPolicy { SearchIndexPolicy(level: 0) }
}
