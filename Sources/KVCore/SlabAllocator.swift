// Size-class slab allocation for small records, so engines avoid one heap object per record.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands out fixed-size chunks carved from large slabs, one free list per size class
/// (memcached's slab design, with 8-byte size classes so a record wastes at most 7 bytes).
///
/// Layout: size class `c` serves chunks of `8 * (c + 1)` bytes, up to `maxChunkSize`;
/// larger requests go to `malloc` directly. Slabs are `slabSize` bytes from `malloc`, carved
/// front to back; a freed chunk's first 8 bytes link it into its class's free list. Memory
/// of freed chunks is reused by the same class and returned to the system only by
/// `releaseAll()` (or deinit), as in memcached.
///
/// Overhead per chunk: 0 bytes of header (the caller remembers the size), plus up to 7
/// bytes of rounding. Not thread-safe: each owner (a hash shard, a skiplist) guards its own.
public struct SlabAllocator: ~Copyable {
    /// The largest chunk served from slabs; larger allocations use malloc.
    public static let maxChunkSize = 4096
    /// Bytes per slab.
    public static let slabSize = 256 * 1024

    private var freeLists: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private var slabs: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer? = nil
    private var remaining = 0
    /// Bytes handed out and not freed, counted by chunk size (what callers hold).
    public private(set) var bytesInUse = 0
    /// Bytes obtained from the system: slabs plus large allocations.
    public private(set) var bytesReserved = 0

    private static let classCount = maxChunkSize / 8

    public init() {
        freeLists = .allocate(capacity: Self.classCount)
        freeLists.initialize(repeating: nil, count: Self.classCount)
    }

    deinit {
        for slab in slabs { free(slab) }
        freeLists.deallocate()
    }

    /// The chunk size a request of `size` bytes is rounded up to.
    @inlinable
    public static func chunkSize(for size: Int) -> Int {
        size <= maxChunkSize ? max(8, (size + 7) & ~7) : size
    }

    /// Returns uninitialized memory of at least `size` bytes, 8-byte aligned.
    public mutating func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let chunk = Self.chunkSize(for: size)
        if chunk > Self.maxChunkSize {
            bytesInUse += chunk
            bytesReserved += chunk
            return malloc(chunk)!
        }
        bytesInUse += chunk
        let cls = chunk / 8 - 1
        if let head = freeLists[cls] {
            freeLists[cls] = head.load(as: UnsafeMutableRawPointer?.self)
            return head
        }
        if remaining < chunk {
            // The tail of the old slab (< chunk bytes) is left unused; at most 4 KiB per slab.
            let slab = malloc(Self.slabSize)!
            slabs.append(slab)
            bytesReserved += Self.slabSize
            cursor = slab
            remaining = Self.slabSize
        }
        let p = cursor!
        cursor = p + chunk
        remaining -= chunk
        return p
    }

    /// Returns a chunk obtained from `allocate(size)` with the same `size`.
    public mutating func deallocate(_ pointer: UnsafeMutableRawPointer, size: Int) {
        let chunk = Self.chunkSize(for: size)
        bytesInUse -= chunk
        if chunk > Self.maxChunkSize {
            bytesReserved -= chunk
            free(pointer)
            return
        }
        let cls = chunk / 8 - 1
        pointer.storeBytes(of: freeLists[cls], as: UnsafeMutableRawPointer?.self)
        freeLists[cls] = pointer
    }

    /// Frees every slab. Chunks handed out before are invalid afterwards; large (malloc'd)
    /// chunks are not tracked here and must be freed by the owner first.
    public mutating func releaseAll() {
        for slab in slabs { free(slab) }
        slabs.removeAll()
        freeLists.update(repeating: nil, count: Self.classCount)
        cursor = nil
        remaining = 0
        bytesInUse = 0
        bytesReserved = 0
    }
}
