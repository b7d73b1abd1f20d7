// The index of a hash shard: cache-line groups of 12 tag bytes and 12 four-byte record locators.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVCore

/// The control byte of one slot.
///
///     0          empty: a probe that meets an empty slot in a group stops after that group
///     1          tombstone: a deleted record in a group that once was full
///     2...255    a record; the value is 8 bits of the key's hash (bits 32...39, 0 and 1
///                mapped to 2 and 3), so a probe reads a record only when its tag agrees
///                (about 1 in 254 for a different key)
enum Tag {
    static let empty: UInt8 = 0
    static let tombstone: UInt8 = 1

    /// The tag of `hash`.
    @inline(__always)
    static func of(_ hash: UInt64) -> UInt8 {
        let t = UInt8(truncatingIfNeeded: hash >> 32)
        return t < 2 ? t &+ 2 : t
    }

    @inline(__always)
    static func isLive(_ tag: UInt8) -> Bool { tag > tombstone }
}

/// An open-addressing table of 64-byte groups, probed group by group (Swiss-table style, with
/// the locators in the same cache line as their tags).
///
///     bytes 0...11    12 control bytes (`Tag`), one per slot
///     bytes 12...15   unused (zero; masked out of every match)
///     bytes 16...63   12 UInt32 locators (`RecordArena`), slot i at 16 + 4i
///
/// A key's home group is the multiply-shift `(hash & 0xFFFF_FFFF) * groupCount >> 32` (the
/// low 32 hash bits; the shard came from the high bits, the tag from bits 32...39), so the
/// group count need not be a power of two and a table grows by 1.6x, not 2x. A lookup reads
/// the home group's 16 control bytes as two words, finds the bytes equal to the tag with
/// exact SWAR byte compares, checks those records' keys, and stops at the first group that
/// has an empty slot; else it moves to the next group. One cache line for the index, one for
/// the record, as with the 8-byte pointer slots this replaced.
///
/// Deletion leaves a tombstone only in a group with no empty slot: a group that has an empty
/// slot has never been full (a full group only gets tombstones), so no probe ever passed it.
///
/// The owning shard keeps the load (live + tombstones) at most 0.8 of the slots, so some
/// group always has an empty slot and every probe ends. The table does not own the records
/// its locators name; its memory is freed only by `deallocate()`: the shard is its owner.
struct SlotTable {
    static let groupBytes = 64
    static let slotsPerGroup = 12
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080
    private static let lowSevenBits: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
    /// Slots 8...11 of the second control word (bytes 12...15 are not slots).
    private static let upperSlotsMask: UInt64 = 0x0000_0000_8080_8080

    /// 64-byte aligned groups; `groupCount` of them.
    let groups: UnsafeMutableRawPointer
    /// What mmap or calloc returned (groups are aligned up from it).
    private let allocation: UnsafeMutableRawPointer
    /// True if `allocation` is mapped (unmapped when freed) rather than calloc'd.
    private let isMapped: Bool
    let groupCount: Int
    /// Slots holding a record.
    var liveCount = 0
    /// Slots holding a tombstone.
    var tombstoneCount = 0

    /// The smallest table a shard uses: one group.
    static let minimumCapacity = slotsPerGroup

    /// Tables of this many bytes or more are mapped from the kernel and unmapped when freed.
    static let mappedThreshold = 64 * 1024

    /// A table of at least `capacity` empty slots (rounded up to whole groups).
    /// - Throws: `EngineError.io` (operation `mmap, then calloc`) when the system gives no memory.
    init(capacity: Int) throws(EngineError) {
        groupCount = max(1, (capacity + Self.slotsPerGroup - 1) / Self.slotsPerGroup)
        let bytes = groupCount * Self.groupBytes
        if bytes >= Self.mappedThreshold {
            // A large table is mapped, not malloc'd: its pages are zero until touched, and
            // unmapping it after a migration gives them back at once; freed to malloc they
            // stayed resident as the allocator's dirty pages for seconds (about 3 B/record at
            // 1M records, measured). A failed map (ENOMEM, vm.max_map_count) falls back to calloc.
            let mapped = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let mapped, mapped != MAP_FAILED {
                DirectMappings.didMap(bytes)
                allocation = mapped
                groups = mapped
                isMapped = true
                return
            }
        }
        // calloc, plus 64 bytes to align the groups to cache lines whatever malloc's alignment is.
        guard let block = calloc(bytes + Self.groupBytes, 1) else {
            throw RecordArena.outOfMemory("mmap, then calloc", bytes: bytes + Self.groupBytes)
        }
        allocation = block
        isMapped = false
        let address = (UInt(bitPattern: allocation) + UInt(Self.groupBytes) - 1) & ~UInt(Self.groupBytes - 1)
        groups = UnsafeMutableRawPointer(bitPattern: address).unsafelyUnwrapped
    }

    /// Frees the table's memory. The table must not be used afterwards.
    func deallocate() {
        if isMapped {
            munmap(allocation, groupCount * Self.groupBytes)
            DirectMappings.didUnmap(groupCount * Self.groupBytes)
        } else {
            free(allocation)
        }
    }

    var capacity: Int { groupCount * Self.slotsPerGroup }
    var byteCount: Int { groupCount * Self.groupBytes + (isMapped ? 0 : Self.groupBytes) }
    var usedCount: Int { liveCount + tombstoneCount }

    /// True if turning one more empty slot into a used one would exceed a load of 0.8.
    var isFull: Bool { (usedCount + 1) * 5 > capacity * 4 }

    /// The smallest capacity (whole groups) that holds `records` at a load of at most 0.8.
    static func capacity(forRecords records: Int) -> Int {
        let needed = max(minimumCapacity, (records * 5 + 3) / 4 + 1)
        return (needed + slotsPerGroup - 1) / slotsPerGroup * slotsPerGroup
    }

    /// The smallest power of two `>= n` (n >= 1).
    static func powerOfTwo(atLeast n: Int) -> Int {
        n <= 1 ? 1 : 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount)
    }

    // MARK: - Slots

    @inline(__always)
    func homeGroup(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: ((hash & 0xFFFF_FFFF) &* UInt64(truncatingIfNeeded: groupCount)) >> 32)
    }

    /// The control byte of slot `index` (group `index / 12`, lane `index % 12`).
    @inline(__always)
    func tag(at index: Int) -> UInt8 {
        let (g, lane) = index.quotientAndRemainder(dividingBy: Self.slotsPerGroup)
        return groups.load(fromByteOffset: g &* Self.groupBytes &+ lane, as: UInt8.self)
    }

    /// The locator in slot `index` (meaningful only for a live slot).
    @inline(__always)
    func locator(at index: Int) -> UInt32 {
        let (g, lane) = index.quotientAndRemainder(dividingBy: Self.slotsPerGroup)
        return groups.load(fromByteOffset: g &* Self.groupBytes &+ 16 &+ lane &* 4, as: UInt32.self)
    }

    @inline(__always)
    private func setTag(_ tag: UInt8, at index: Int) {
        let (g, lane) = index.quotientAndRemainder(dividingBy: Self.slotsPerGroup)
        groups.storeBytes(of: tag, toByteOffset: g &* Self.groupBytes &+ lane, as: UInt8.self)
    }

    /// Replaces the locator of live slot `index` (its record moved to a new chunk).
    @inline(__always)
    func setLocator(_ locator: UInt32, at index: Int) {
        let (g, lane) = index.quotientAndRemainder(dividingBy: Self.slotsPerGroup)
        groups.storeBytes(of: locator, toByteOffset: g &* Self.groupBytes &+ 16 &+ lane &* 4, as: UInt32.self)
    }

    // MARK: - Byte matching (SWAR, exact: no false positives)

    /// The high bit of every byte of `word` that is zero.
    @inline(__always)
    private static func zeroBytes(_ word: UInt64) -> UInt64 {
        ~(((word & lowSevenBits) &+ lowSevenBits) | word) & highBits
    }

    /// The two control words of group `g` (slots 0...7, and slots 8...11 in the low 4 bytes).
    @inline(__always)
    private func controls(_ g: Int) -> (UInt64, UInt64) {
        let p = groups + g &* Self.groupBytes
        return (UInt64(littleEndian: p.load(as: UInt64.self)),
                UInt64(littleEndian: p.load(fromByteOffset: 8, as: UInt64.self)))
    }

    /// Bit 8i+7 set for each slot i of the group whose control byte is `tag` (bits 64... for
    /// slots 8...11 are returned in the second word).
    @inline(__always)
    private static func match(_ words: (UInt64, UInt64), _ tag: UInt8) -> (UInt64, UInt64) {
        let pattern = ones &* UInt64(tag)
        return (zeroBytes(words.0 ^ pattern), zeroBytes(words.1 ^ pattern) & upperSlotsMask)
    }

    /// True if the group has an empty slot.
    @inline(__always)
    private static func hasEmpty(_ words: (UInt64, UInt64)) -> Bool {
        (zeroBytes(words.0) | (zeroBytes(words.1) & upperSlotsMask)) != 0
    }

    /// The first slot of the group that is empty or a tombstone, or -1.
    @inline(__always)
    private static func firstVacancy(_ words: (UInt64, UInt64)) -> Int {
        // Clearing bit 0 makes 0 and 1 (empty, tombstone) the only zero bytes.
        let clear = ~ones
        let low = zeroBytes(words.0 & clear)
        if low != 0 { return low.trailingZeroBitCount >> 3 }
        let high = zeroBytes(words.1 & clear) & upperSlotsMask
        return high != 0 ? 8 + high.trailingZeroBitCount >> 3 : -1
    }

    // MARK: - Probing

    /// True if the record `locator` names has key `key`.
    @inline(__always)
    private func holds(_ key: UnsafeRawBufferPointer, g: Int, lane: Int,
                       bases: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Bool {
        let locator = groups.load(fromByteOffset: g &* Self.groupBytes &+ 16 &+ lane &* 4, as: UInt32.self)
        return ByteOrder.equal(PackedRecord.key(RecordArena.address(locator, in: bases)), key)
    }

    /// The slot of `key` among the tag matches of group `g`, or -1.
    @inline(__always)
    private func search(_ key: UnsafeRawBufferPointer, g: Int, matches: (UInt64, UInt64),
                        bases: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int {
        var m = matches.0
        while m != 0 {
            let lane = m.trailingZeroBitCount >> 3
            if holds(key, g: g, lane: lane, bases: bases) { return g &* Self.slotsPerGroup &+ lane }
            m &= m &- 1
        }
        m = matches.1
        while m != 0 {
            let lane = 8 &+ m.trailingZeroBitCount >> 3
            if holds(key, g: g, lane: lane, bases: bases) { return g &* Self.slotsPerGroup &+ lane }
            m &= m &- 1
        }
        return -1
    }

    @inline(__always)
    private func nextGroup(_ g: Int) -> Int { g &+ 1 == groupCount ? 0 : g &+ 1 }

    /// The index of the slot holding `key`, or -1. `bases` is the record arena's directory.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64,
              bases: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int {
        let tag = Tag.of(hash)
        var g = homeGroup(hash)
        while true {
            let words = controls(g)
            let i = search(key, g: g, matches: Self.match(words, tag), bases: bases)
            if i >= 0 { return i }
            if Self.hasEmpty(words) { return -1 }
            g = nextGroup(g)
        }
    }

    /// The index of the slot holding `key` (or -1), and the first slot a new record for
    /// `key` may take: the first empty or tombstone slot on the probe path.
    @inline(__always)
    func probe(_ key: UnsafeRawBufferPointer, hash: UInt64,
               bases: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> (found: Int, vacancy: Int) {
        let tag = Tag.of(hash)
        var g = homeGroup(hash)
        var vacancy = -1
        while true {
            let words = controls(g)
            let i = search(key, g: g, matches: Self.match(words, tag), bases: bases)
            if i >= 0 { return (i, vacancy) }
            if vacancy < 0 {
                let lane = Self.firstVacancy(words)
                if lane >= 0 { vacancy = g &* Self.slotsPerGroup &+ lane }
            }
            if Self.hasEmpty(words) { return (-1, vacancy) }
            g = nextGroup(g)
        }
    }

    /// The first empty or tombstone slot on `hash`'s probe path, for a key known to be absent.
    @inline(__always)
    func vacancy(hash: UInt64) -> Int {
        var g = homeGroup(hash)
        while true {
            let lane = Self.firstVacancy(controls(g))
            if lane >= 0 { return g &* Self.slotsPerGroup &+ lane }
            g = nextGroup(g)
        }
    }

    // MARK: - Changes

    /// Stores a record (`tag`, `locator`) at `index`, a vacancy from `probe` or `vacancy`.
    @inline(__always)
    mutating func fill(_ index: Int, tag: UInt8, locator: UInt32) {
        if self.tag(at: index) == Tag.tombstone { tombstoneCount -= 1 }
        setLocator(locator, at: index)
        setTag(tag, at: index)
        liveCount += 1
    }

    /// Stores a record for a key known to be absent (migration from another table).
    @inline(__always)
    mutating func insertAbsent(tag: UInt8, locator: UInt32, hash: UInt64) {
        fill(vacancy(hash: hash), tag: tag, locator: locator)
    }

    /// True if group `g` has an empty slot.
    func groupHasEmpty(_ g: Int) -> Bool { Self.hasEmpty(controls(g)) }

    /// Removes the record at `index`: the slot becomes empty if its group has an empty slot
    /// (no probe path runs through such a group), else a tombstone. Records never move, so a
    /// migration cursor over this table stays valid.
    mutating func remove(at index: Int) {
        liveCount -= 1
        if groupHasEmpty(index / Self.slotsPerGroup) {
            setTag(Tag.empty, at: index)
        } else {
            setTag(Tag.tombstone, at: index)
            tombstoneCount += 1
        }
    }
}
