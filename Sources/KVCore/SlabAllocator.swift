// Size-class slab allocation for small records, so engines avoid one heap object per record.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands out fixed-size chunks carved from 64 KiB slabs, with 8-byte size classes so a record
/// wastes at most 7 bytes; larger requests go to `malloc` directly.
///
/// The design is Bonwick's slab allocator rather than memcached's: each slab serves one size
/// class and keeps its own free list and count of live chunks, so a slab whose chunks are all
/// freed is returned to the system. Memory therefore follows the data when record sizes change
/// (overwrite 1 KiB values with 100-byte ones and the 1 KiB slabs go away), where a global free
/// list per class would hold the peak forever.
///
/// Layout of a slab (aligned to its size, so a chunk finds its slab by masking its address):
///
///     offset 0    SlabHeader (64 bytes): partial-list links, free list, bump offset,
///                 live chunks, chunk size
///     offset 64   chunks of `chunkSize` bytes, carved front to back as needed
///
/// A freed chunk's first 8 bytes link it into its slab's free list. Slabs with free space are
/// on their class's doubly linked partial list; a slab is freed when its last chunk is, unless
/// it is the only slab of its class with space (which avoids thrashing at a slab boundary).
///
/// Chunks over 4 KiB come from malloc one by one; the allocator keeps a set of them, so
/// `releaseAll` frees those too.
///
/// Overhead per chunk: no header, up to 7 bytes of rounding, 64 bytes per slab. Not
/// thread-safe: each owner (a hash shard, a skiplist) guards its own.
public struct SlabAllocator: ~Copyable {
    /// The largest chunk served from slabs; larger allocations use malloc.
    public static let maxChunkSize = 4096
    /// Bytes per slab, header included; slabs are aligned to this size.
    public static let slabSize = 64 * 1024
    static let headerSize = 64
    static let slabMask = ~(UInt(slabSize) - 1)

    struct SlabHeader {
        var previous: UnsafeMutableRawPointer?
        var next: UnsafeMutableRawPointer?
        var freeList: UnsafeMutableRawPointer?
        var bumpOffset: Int
        var live: Int
        var chunkSize: Int
        var onPartialList: Bool
    }

    private static let classCount = maxChunkSize / 8
    /// Per class, the first slab with free space.
    private var partial: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// Every slab, for `releaseAll`.
    private var slabs: Set<UnsafeMutableRawPointer> = []
    /// Every live chunk larger than `maxChunkSize` (malloc'd one by one), for `releaseAll`.
    private var largeChunks: Set<UnsafeMutableRawPointer> = []

    /// Bytes handed out and not freed, counted by chunk size (what callers hold).
    public private(set) var bytesInUse = 0
    /// Bytes obtained from the system: slabs plus large allocations.
    public private(set) var bytesReserved = 0

    public init() {
        partial = .allocate(capacity: Self.classCount)
        partial.initialize(repeating: nil, count: Self.classCount)
    }

    deinit {
        for slab in slabs { free(slab) }
        for chunk in largeChunks { free(chunk) }
        partial.deallocate()
    }

    /// Live chunks larger than `maxChunkSize`.
    public var largeChunkCount: Int { largeChunks.count }

    /// The chunk size a request of `size` bytes is rounded up to.
    @inlinable
    public static func chunkSize(for size: Int) -> Int {
        size <= maxChunkSize ? max(8, (size + 7) & ~7) : size
    }

    @inline(__always)
    private static func header(_ slab: UnsafeMutableRawPointer) -> UnsafeMutablePointer<SlabHeader> {
        slab.assumingMemoryBound(to: SlabHeader.self)
    }

    @inline(__always)
    private static func slab(of chunk: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: chunk) & slabMask)!
    }

    /// Returns uninitialized memory of at least `size` bytes, 8-byte aligned.
    public mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let chunk = Self.chunkSize(for: size)
        bytesInUse += chunk
        if chunk > Self.maxChunkSize {
            bytesReserved += chunk
            let large = malloc(chunk)!
            largeChunks.insert(large)
            return large
        }
        let cls = chunk / 8 - 1
        let slab = partial[cls] ?? newSlab(chunkSize: chunk, cls: cls)
        let h = Self.header(slab)
        let result: UnsafeMutableRawPointer
        if let head = h.pointee.freeList {
            h.pointee.freeList = head.load(as: UnsafeMutableRawPointer?.self)
            result = head
        } else {
            result = slab + h.pointee.bumpOffset
            h.pointee.bumpOffset += chunk
        }
        h.pointee.live += 1
        if h.pointee.freeList == nil && h.pointee.bumpOffset + chunk > Self.slabSize {
            unlinkPartial(slab, cls: cls)
        }
        return result
    }

    /// Returns a chunk obtained from `allocate(size)` with the same `size`.
    public mutating func deallocate(_ pointer: UnsafeMutableRawPointer, size: Int) {
        let chunk = Self.chunkSize(for: size)
        bytesInUse -= chunk
        if chunk > Self.maxChunkSize {
            bytesReserved -= chunk
            largeChunks.remove(pointer)
            free(pointer)
            return
        }
        let cls = chunk / 8 - 1
        let slab = Self.slab(of: pointer)
        let h = Self.header(slab)
        precondition(h.pointee.chunkSize == chunk, "chunk freed with size \(size), allocated from a \(h.pointee.chunkSize)-byte class")
        pointer.storeBytes(of: h.pointee.freeList, as: UnsafeMutableRawPointer?.self)
        h.pointee.freeList = pointer
        h.pointee.live -= 1
        if !h.pointee.onPartialList { linkPartial(slab, cls: cls) }
        if h.pointee.live == 0 && (partial[cls] != slab || h.pointee.next != nil) {
            // Empty, and not the class's only slab with space: give it back.
            unlinkPartial(slab, cls: cls)
            slabs.remove(slab)
            bytesReserved -= Self.slabSize
            free(slab)
        }
    }

    /// Frees every slab and every large chunk. Chunks handed out before are invalid afterwards.
    public mutating func releaseAll() {
        for slab in slabs { free(slab) }
        slabs.removeAll()
        for chunk in largeChunks { free(chunk) }
        largeChunks.removeAll()
        partial.update(repeating: nil, count: Self.classCount)
        bytesInUse = 0
        bytesReserved = 0
    }

    private mutating func newSlab(chunkSize: Int, cls: Int) -> UnsafeMutableRawPointer {
        var raw: UnsafeMutableRawPointer? = nil
        precondition(posix_memalign(&raw, Self.slabSize, Self.slabSize) == 0, "out of memory for a slab")
        let slab = raw!
        Self.header(slab).initialize(to: SlabHeader(previous: nil, next: nil, freeList: nil, bumpOffset: Self.headerSize,
                                                    live: 0, chunkSize: chunkSize, onPartialList: false))
        slabs.insert(slab)
        bytesReserved += Self.slabSize
        linkPartial(slab, cls: cls)
        return slab
    }

    private mutating func linkPartial(_ slab: UnsafeMutableRawPointer, cls: Int) {
        let h = Self.header(slab)
        h.pointee.previous = nil
        h.pointee.next = partial[cls]
        if let first = partial[cls] { Self.header(first).pointee.previous = slab }
        partial[cls] = slab
        h.pointee.onPartialList = true
    }

    private mutating func unlinkPartial(_ slab: UnsafeMutableRawPointer, cls: Int) {
        let h = Self.header(slab)
        guard h.pointee.onPartialList else { return }
        if let previous = h.pointee.previous { Self.header(previous).pointee.next = h.pointee.next } else { partial[cls] = h.pointee.next }
        if let next = h.pointee.next { Self.header(next).pointee.previous = h.pointee.previous }
        h.pointee.previous = nil
        h.pointee.next = nil
        h.pointee.onPartialList = false
    }
}
