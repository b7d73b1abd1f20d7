// A hash shard's record memory: size-class slabs addressed by 32-bit locators instead of pointers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import KVCore

/// Hands out record chunks from 64 KiB slabs and names each by a 32-bit *locator*, so a slot
/// table can store 4 bytes per record instead of an 8-byte pointer.
///
///     locator = slab index (19 bits) << 13 | chunk offset in the slab / 8 (13 bits)
///
/// The slab *directory* (`bases`, indexed by slab index) turns a locator back into an address:
/// `bases[locator >> 13] + (locator & 0x1FFF) * 8`. A shard of 1M / 64 records has about 30
/// slabs, so the directory stays in cache and costs a read one extra load.
///
/// Same policy as `KVCore.SlabAllocator` (Bonwick's slabs): 8-byte size classes up to 4 KiB,
/// each slab serves one class with its own free list and live count, a slab whose chunks are
/// all freed is unmapped unless it is its class's only slab with space. Differences: the slab
/// headers live in a side array (`infos`), not in the slab, so all 65,536 bytes hold chunks
/// (546 chunks of 120 bytes, 16 bytes left over); slabs are mmapped (16 pages exactly: a
/// 64 KiB malloc under jemalloc costs 17 resident pages, see `newSlab`), so they need no
/// alignment and leave the allocator's statistics; a record larger than 4 KiB gets a
/// directory entry of its own (one malloc'd block, offset 0).
///
/// Freed chunks are reused before the bump pointer advances (the free list holds a chunk's
/// offset in its first 4 bytes), so updates and deletes reuse memory rather than leak it.
/// Not thread-safe: the owning shard's lock guards it.
struct RecordArena: ~Copyable {
    static let slabSize = 64 * 1024
    /// The largest chunk served from slabs; larger records get a malloc'd block each.
    static let maxChunkSize = 4096
    static let offsetBits: UInt32 = 13
    static let offsetMask: UInt32 = (1 << 13) - 1
    /// Directory entries a shard may use: 2^19 (32 GiB of slabs).
    static let maxEntries = 1 << 19
    private static let classCount = maxChunkSize / 8
    private static let none = UInt32.max

    /// Bookkeeping of one directory entry (a slab, or one large record).
    struct SlabInfo {
        var freeHead: UInt32
        var bump: UInt32
        var live: UInt32
        var chunkSize: UInt32
        var previous: UInt32
        var next: UInt32
        var onPartialList: Bool
        /// True for an mmapped slab; false for a malloc'd one (a slab whose mmap failed, or a large record).
        var mapped: Bool
    }

    /// Start address of each directory entry's memory; nil for an unused entry.
    private(set) var bases: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private var infos: UnsafeMutablePointer<SlabInfo>
    private var directoryCapacity: Int
    /// Entries ever handed out (the directory's high-water mark).
    private(set) var directoryCount = 0
    /// Released entries below `directoryCount`, reused first.
    private var freeEntries: [UInt32] = []
    /// Per size class, the first slab with free space (or `none`).
    private var partial: UnsafeMutablePointer<UInt32>

    /// Bytes handed out and not freed, counted by chunk size.
    private(set) var bytesInUse = 0
    /// Bytes obtained from the system: mapped slabs plus malloc'd large records (the directory not included).
    private(set) var bytesReserved = 0
    /// Live records larger than `maxChunkSize`.
    private(set) var largeChunkCount = 0

    init() {
        directoryCapacity = 16
        bases = .allocate(capacity: directoryCapacity)
        bases.initialize(repeating: nil, count: directoryCapacity)
        infos = .allocate(capacity: directoryCapacity)
        partial = .allocate(capacity: Self.classCount)
        partial.initialize(repeating: Self.none, count: Self.classCount)
    }

    deinit {
        for i in 0..<directoryCount { release(entry: i) }
        bases.deallocate()
        infos.deallocate()
        partial.deallocate()
    }

    /// The chunk size a request of `size` bytes is rounded up to.
    @inline(__always)
    static func chunkSize(for size: Int) -> Int {
        size <= maxChunkSize ? max(8, (size + 7) & ~7) : size
    }

    /// The address a locator names.
    @inline(__always)
    static func address(_ locator: UInt32, in bases: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> UnsafeMutableRawPointer {
        bases[Int(truncatingIfNeeded: locator >> offsetBits)].unsafelyUnwrapped
            + Int(truncatingIfNeeded: locator & offsetMask) &<< 3
    }

    /// The address of the chunk `locator` names.
    @inline(__always)
    func address(_ locator: UInt32) -> UnsafeMutableRawPointer { Self.address(locator, in: bases) }

    /// True if `locator` names memory the arena holds (for the invariant check).
    func isHeld(_ locator: UInt32) -> Bool {
        let entry = Int(locator >> Self.offsetBits)
        guard entry < directoryCount, bases[entry] != nil else { return false }
        let offset = Int(locator & Self.offsetMask) << 3
        let chunk = Int(infos[entry].chunkSize)
        return chunk > Self.maxChunkSize ? offset == 0 : offset + chunk <= Self.slabSize && offset % chunk == 0
    }

    /// Returns the locator of uninitialized memory of at least `size` bytes, 8-byte aligned.
    /// - Throws: `EngineError.tooLarge` when the shard's directory (2^19 entries) is full or
    ///   the record is larger than 4 GiB; `EngineError.io` (operation `malloc`/`mmap`) when the
    ///   system gives no memory. Nothing changes when it throws.
    mutating func allocate(_ size: Int) throws(EngineError) -> UInt32 {
        let chunk = Self.chunkSize(for: size)
        if chunk > Self.maxChunkSize {
            // Large records keep their size in a UInt32 (`SlabInfo.chunkSize`).
            guard chunk <= Int(UInt32.max) else {
                throw .tooLarge(what: "hash engine record (varint header + key + value)", size: chunk,
                                limit: Int(UInt32.max))
            }
            let entry = try takeEntry()
            guard let block = malloc(chunk) else {
                freeEntries.append(entry)
                throw Self.outOfMemory("malloc", bytes: chunk)
            }
            bases[Int(entry)] = block
            infos[Int(entry)] = SlabInfo(freeHead: Self.none, bump: 0, live: 1, chunkSize: UInt32(chunk),
                                         previous: Self.none, next: Self.none, onPartialList: false, mapped: false)
            bytesInUse += chunk
            bytesReserved += chunk
            largeChunkCount += 1
            return entry << Self.offsetBits
        }
        let cls = chunk / 8 - 1
        var slab = partial[cls]
        if slab == Self.none { slab = try newSlab(chunkSize: chunk, cls: cls) }
        let info = infos + Int(slab)
        let offset: UInt32
        if info.pointee.freeHead != Self.none {
            offset = info.pointee.freeHead
            info.pointee.freeHead = (bases[Int(slab)].unsafelyUnwrapped + Int(offset)).load(as: UInt32.self)
        } else {
            offset = info.pointee.bump
            info.pointee.bump += UInt32(chunk)
        }
        info.pointee.live += 1
        bytesInUse += chunk
        if info.pointee.freeHead == Self.none && Int(info.pointee.bump) + chunk > Self.slabSize {
            unlinkPartial(slab, cls: cls)
        }
        return slab << Self.offsetBits | offset >> 3
    }

    /// Returns the chunk `locator` names, obtained from `allocate(size)` with the same `size`.
    mutating func deallocate(_ locator: UInt32, size: Int) {
        let chunk = Self.chunkSize(for: size)
        let slab = locator >> Self.offsetBits
        let info = infos + Int(slab)
        precondition(Int(info.pointee.chunkSize) == chunk,
                     "chunk freed with size \(size), allocated from a \(info.pointee.chunkSize)-byte class")
        bytesInUse -= chunk
        if chunk > Self.maxChunkSize {
            free(bases[Int(slab)])
            bases[Int(slab)] = nil
            freeEntries.append(slab)
            bytesReserved -= chunk
            largeChunkCount -= 1
            return
        }
        let cls = chunk / 8 - 1
        let offset = (locator & Self.offsetMask) << 3
        (bases[Int(slab)].unsafelyUnwrapped + Int(offset)).storeBytes(of: info.pointee.freeHead, as: UInt32.self)
        info.pointee.freeHead = offset
        info.pointee.live -= 1
        if !info.pointee.onPartialList { linkPartial(slab, cls: cls) }
        if info.pointee.live == 0 && (partial[cls] != slab || info.pointee.next != Self.none) {
            // Empty, and not the class's only slab with space: give it back.
            unlinkPartial(slab, cls: cls)
            release(entry: Int(slab))
            bases[Int(slab)] = nil
            freeEntries.append(slab)
            bytesReserved -= Self.slabSize
        }
    }

    /// Frees every slab and large record. Locators handed out before are invalid afterwards.
    mutating func releaseAll() {
        for i in 0..<directoryCount {
            release(entry: i)
            bases[i] = nil
        }
        directoryCount = 0
        freeEntries.removeAll()
        partial.update(repeating: Self.none, count: Self.classCount)
        bytesInUse = 0
        bytesReserved = 0
        largeChunkCount = 0
    }

    /// Frees entry `i`'s memory, if any: a slab is unmapped, a large record freed.
    private func release(entry i: Int) {
        guard let base = bases[i] else { return }
        if infos[i].mapped {
            munmap(base, Self.slabSize)
            DirectMappings.didUnmap(Self.slabSize)
        } else {
            free(base)
        }
    }

    // MARK: - Directory and partial lists

    private mutating func takeEntry() throws(EngineError) -> UInt32 {
        if let entry = freeEntries.popLast() { return entry }
        guard directoryCount < Self.maxEntries else {
            throw .tooLarge(what: "hash shard record directory (slabs plus records over \(Self.maxChunkSize) bytes)",
                            size: directoryCount + 1, limit: Self.maxEntries)
        }
        if directoryCount == directoryCapacity {
            let capacity = directoryCapacity * 2
            let newBases = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: capacity)
            newBases.moveInitialize(from: bases, count: directoryCapacity)
            (newBases + directoryCapacity).initialize(repeating: nil, count: capacity - directoryCapacity)
            bases.deallocate()
            bases = newBases
            let newInfos = UnsafeMutablePointer<SlabInfo>.allocate(capacity: capacity)
            newInfos.moveInitialize(from: infos, count: directoryCapacity)
            infos.deallocate()
            infos = newInfos
            directoryCapacity = capacity
        }
        directoryCount += 1
        return UInt32(directoryCount - 1)
    }

    private mutating func newSlab(chunkSize: Int, cls: Int) throws(EngineError) -> UInt32 {
        let entry = try takeEntry()
        // Mapped, not malloc'd: jemalloc pads every large allocation with a page (its cache-
        // oblivious offset), 64 + 4 KiB resident per 64 KiB slab, 7.5 B per 120-byte record.
        // If the map fails (ENOMEM, or vm.max_map_count reached: a 64 KiB map per slab is
        // 65,530 maps, 4 GiB, by default, and unmapping slabs splits the kernel's merged
        // areas), the slab comes from malloc, whose large chunks cost few maps; if that
        // fails too, the put fails with a typed error rather than the process.
        var base: UnsafeMutableRawPointer?
        var isMapped = true
        let mapped = mmap(nil, Self.slabSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if let mapped, mapped != MAP_FAILED {
            DirectMappings.didMap(Self.slabSize)
            base = mapped
        } else {
            isMapped = false
            base = malloc(Self.slabSize)
        }
        guard let base else {
            freeEntries.append(entry)
            throw Self.outOfMemory("mmap, then malloc", bytes: Self.slabSize)
        }
        bases[Int(entry)] = base
        infos[Int(entry)] = SlabInfo(freeHead: Self.none, bump: 0, live: 0, chunkSize: UInt32(chunkSize),
                                     previous: Self.none, next: Self.none, onPartialList: false, mapped: isMapped)
        bytesReserved += Self.slabSize
        linkPartial(entry, cls: cls)
        return entry
    }

    /// The error of a failed memory request of `bytes` bytes.
    static func outOfMemory(_ operation: String, bytes: Int) -> EngineError {
        let code = errno
        return .io(path: "hash engine memory (\(bytes) bytes)", operation: operation, errno: code,
                   message: "the system gave no memory: \(String(cString: strerror(code)))")
    }

    private mutating func linkPartial(_ slab: UInt32, cls: Int) {
        let info = infos + Int(slab)
        info.pointee.previous = Self.none
        info.pointee.next = partial[cls]
        if partial[cls] != Self.none { infos[Int(partial[cls])].previous = slab }
        partial[cls] = slab
        info.pointee.onPartialList = true
    }

    private mutating func unlinkPartial(_ slab: UInt32, cls: Int) {
        let info = infos + Int(slab)
        guard info.pointee.onPartialList else { return }
        let (previous, next) = (info.pointee.previous, info.pointee.next)
        if previous != Self.none { infos[Int(previous)].next = next } else { partial[cls] = next }
        if next != Self.none { infos[Int(next)].previous = previous }
        info.pointee.previous = Self.none
        info.pointee.next = Self.none
        info.pointee.onPartialList = false
    }
}
