// The index of a hash shard: a power-of-two array of 64-bit slots probed linearly.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVCore

/// What one slot word holds.
///
///     0                      empty: ends every probe
///     1                      tombstone: a deleted record; probes continue past it
///     tag << 48 | address    a record: `tag` is 16 bits of the key's hash (bits 32...47),
///                            `address` the record's `PackedRecord` chunk (< 2^47 on x86-64)
///
/// A record address is 8-byte aligned and non-null, so a live slot is never 0 or 1. Probes
/// compare tags first and read a record only when the tags agree (1 in 65 536 for a
/// different key), so a lookup touches one record in the common case.
enum Slot {
    static let empty: UInt64 = 0
    static let tombstone: UInt64 = 1
    static let addressMask: UInt64 = (1 << 48) - 1

    /// The tag of `hash`, already shifted into a slot's top 16 bits.
    @inline(__always)
    static func tagBits(_ hash: UInt64) -> UInt64 { (hash >> 32) << 48 }

    /// The slot word for `record` with `tagBits`.
    @inline(__always)
    static func make(tagBits: UInt64, record: UnsafeMutableRawPointer) -> UInt64 {
        let address = UInt64(UInt(bitPattern: record))
        // x86-64 user space (4-level paging) and arm64 with 48-bit VAs fit; anything else
        // would corrupt the tag, so stop rather than guess.
        precondition(address >> 47 == 0, "record address \(address) does not fit in 47 bits")
        return tagBits | address
    }

    @inline(__always)
    static func isLive(_ slot: UInt64) -> Bool { slot > tombstone }

    @inline(__always)
    static func hasTag(_ slot: UInt64, _ tagBits: UInt64) -> Bool { (slot ^ tagBits) >> 48 == 0 }

    /// The record a live slot points to.
    @inline(__always)
    static func record(_ slot: UInt64) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(slot & addressMask)).unsafelyUnwrapped
    }
}

/// An open-addressing table of `Slot` words with linear probing.
///
/// A key's home slot is `hash & mask` (the low hash bits; the shard was chosen by the high
/// bits). The owning shard keeps the load (live + tombstones) at most `maxLoad`, so every
/// probe meets an empty slot. The table does not own the records its slots point to, and
/// its slot memory is freed only by `deallocate()`: the shard is its single owner.
struct SlotTable {
    /// The slot words; `capacity` of them.
    let slots: UnsafeMutablePointer<UInt64>
    /// `capacity - 1`; capacity is a power of two.
    let mask: Int
    /// Slots holding a record.
    var liveCount = 0
    /// Slots holding a tombstone.
    var tombstoneCount = 0

    /// The smallest table a shard uses.
    static let minimumCapacity = 16

    /// A table of `capacity` empty slots (a power of two, at least 2).
    init(capacity: Int) {
        precondition(capacity >= 2 && capacity & (capacity - 1) == 0, "table capacity \(capacity) is not a power of two")
        // calloc: a large table gets lazily zeroed pages, so creating one costs no pass over it.
        let raw = calloc(capacity, MemoryLayout<UInt64>.stride)!
        slots = raw.bindMemory(to: UInt64.self, capacity: capacity)
        mask = capacity - 1
    }

    /// Frees the slot memory. The table must not be used afterwards.
    func deallocate() { free(slots) }

    var capacity: Int { mask + 1 }
    var byteCount: Int { capacity * MemoryLayout<UInt64>.stride }
    var usedCount: Int { liveCount + tombstoneCount }

    /// True if turning one more empty slot into a used one would exceed a load of 0.8.
    var isFull: Bool { (usedCount + 1) * 5 > capacity * 4 }

    /// The smallest power-of-two capacity that holds `records` at a load of at most 0.8.
    static func capacity(forRecords records: Int) -> Int {
        let needed = max(minimumCapacity, (records * 5 + 3) / 4 + 1)
        return 1 << (Int.bitWidth - (needed - 1).leadingZeroBitCount)
    }

    /// The smallest power of two `>= n` (n >= 1).
    static func powerOfTwo(atLeast n: Int) -> Int {
        n <= 1 ? 1 : 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount)
    }

    // MARK: - Probing

    /// True if the record behind live `slot` has key `key`.
    @inline(__always)
    static func slot(_ slot: UInt64, holds key: UnsafeRawBufferPointer) -> Bool {
        ByteOrder.equal(PackedRecord.key(Slot.record(slot)), key)
    }

    /// The index of the slot holding `key`, or -1.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Int {
        let tag = Slot.tagBits(hash)
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[i]
            if slot == Slot.empty { return -1 }
            if Slot.hasTag(slot, tag) && Slot.isLive(slot) && Self.slot(slot, holds: key) { return i }
            i = (i &+ 1) & mask
        }
    }

    /// The index of the slot holding `key` (or -1), and the first slot a new record for
    /// `key` may take: the first tombstone on the probe path, else the empty slot ending it.
    @inline(__always)
    func probe(_ key: UnsafeRawBufferPointer, hash: UInt64) -> (found: Int, vacancy: Int) {
        let tag = Slot.tagBits(hash)
        var i = Int(truncatingIfNeeded: hash) & mask
        var vacancy = -1
        while true {
            let slot = slots[i]
            if slot == Slot.empty { return (-1, vacancy < 0 ? i : vacancy) }
            if slot == Slot.tombstone {
                if vacancy < 0 { vacancy = i }
            } else if Slot.hasTag(slot, tag) && Self.slot(slot, holds: key) {
                return (i, vacancy)
            }
            i = (i &+ 1) & mask
        }
    }

    /// The first empty or tombstone slot on `hash`'s probe path, for a key known to be absent.
    @inline(__always)
    func vacancy(hash: UInt64) -> Int {
        var i = Int(truncatingIfNeeded: hash) & mask
        while Slot.isLive(slots[i]) { i = (i &+ 1) & mask }
        return i
    }

    // MARK: - Changes

    /// Stores live `slot` at `index`, a vacancy returned by `probe` or `vacancy`.
    @inline(__always)
    mutating func fill(_ index: Int, with slot: UInt64) {
        if slots[index] == Slot.tombstone { tombstoneCount -= 1 }
        slots[index] = slot
        liveCount += 1
    }

    /// Stores live `slot` for a key known to be absent (migration from another table).
    @inline(__always)
    mutating func insertAbsent(_ slot: UInt64, hash: UInt64) {
        fill(vacancy(hash: hash), with: slot)
    }

    /// Removes the record at `index`.
    ///
    /// The slot becomes a tombstone unless the next slot is empty: then no probe path runs
    /// through it, so it and the tombstones just before it become empty again. Records never
    /// move, so a migration cursor over this table stays valid.
    mutating func remove(at index: Int) {
        liveCount -= 1
        if slots[(index &+ 1) & mask] != Slot.empty {
            slots[index] = Slot.tombstone
            tombstoneCount += 1
            return
        }
        slots[index] = Slot.empty
        var i = (index &- 1) & mask
        while slots[i] == Slot.tombstone {
            slots[i] = Slot.empty
            tombstoneCount -= 1
            i = (i &- 1) & mask
        }
    }
}
