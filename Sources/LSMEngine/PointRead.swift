// The point-read path of a sorted table: the index parsed once at open, blocks searched in place.

import KVCore

/// A table's index block parsed once, when the table is opened, for point reads: per data
/// block, the 8-byte big-endian prefix of its last user key taken after the bytes all the
/// index's keys share (`SharedKeyPrefix`), the last internal key itself, and the block's offset
/// and size, every handle already checked against the table's data area. A get then
/// binary-searches plain arrays (mostly one 64-bit compare per step) instead of decoding varints
/// and prefix-compressed entries of the index block.
///
/// Owned by its `SortedTable`, which frees it (`deallocate()`) in its `deinit`.
struct TableIndex {
    /// Number of data blocks.
    let count: Int
    /// What the index's user keys share; `prefixes` are taken after it.
    let shared: SharedKeyPrefix
    let prefixes: UnsafeMutablePointer<UInt64>
    /// `keyEnds[i]` is where key `i` ends in `keyBytes` (key `i` starts at `keyEnds[i - 1]`, or 0).
    let keyEnds: UnsafeMutablePointer<Int>
    let keyBytes: UnsafeMutableRawPointer
    let offsets: UnsafeMutablePointer<UInt64>
    let sizes: UnsafeMutablePointer<Int>

    /// Parses `index` (restart interval 1, values `varint offset | varint size`); every block
    /// handle must leave room for the block's trailer below `dataLimit` (the footer's offset).
    init(index: Block, dataLimit: UInt64, path: String) throws(EngineError) {
        var entryPrefixes: [UInt64] = []
        var ends: [Int] = []
        var bytes: [UInt8] = []
        var blockOffsets: [UInt64] = []
        var blockSizes: [Int] = []
        let iterator = BlockIterator(block: index)
        try iterator.seekToFirst()
        while iterator.isValid {
            let key = iterator.key, handle = iterator.value
            guard key.count >= InternalKey.trailerSize else {
                throw .corruption(file: path, offset: index.fileOffset, detail: "index key of \(key.count) bytes is shorter than the 8-byte trailer")
            }
            guard let (offset, a) = Varint.read(handle, at: 0), let (size, _) = Varint.read(handle, at: a) else {
                throw .corruption(file: path, offset: index.fileOffset, detail: "malformed block handle in the index block")
            }
            guard offset <= dataLimit, size <= dataLimit - offset,
                  dataLimit - offset - size >= UInt64(SortedTableWriter.trailerSize) else {
                throw .corruption(file: path, offset: Int64(min(offset, dataLimit)),
                                  detail: "block handle (offset \(offset), size \(size)) runs past the data (\(dataLimit) bytes)")
            }
            bytes.append(contentsOf: key)
            ends.append(bytes.count)
            blockOffsets.append(offset)
            blockSizes.append(Int(size))
            try iterator.next()
        }
        count = ends.count
        let sharedPrefix = bytes.withUnsafeBytes { all -> SharedKeyPrefix in
            func userKey(_ i: Int) -> UnsafeRawBufferPointer {
                InternalKey.userKey(UnsafeRawBufferPointer(rebasing: all[(i == 0 ? 0 : ends[i - 1])..<ends[i]]))
            }
            let empty = UnsafeRawBufferPointer(start: nil, count: 0)
            let run = ends.isEmpty ? SharedKeyPrefix(first: empty, last: empty) : SharedKeyPrefix(first: userKey(0), last: userKey(ends.count - 1))
            for i in 0..<ends.count { entryPrefixes.append(run.prefix(ofMember: userKey(i))) }
            return run
        }
        shared = sharedPrefix
        func copy<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
            let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(array.count, 1))
            _ = UnsafeMutableBufferPointer(start: pointer, count: array.count).initialize(from: array)
            return pointer
        }
        prefixes = copy(entryPrefixes)
        keyEnds = copy(ends)
        offsets = copy(blockOffsets)
        sizes = copy(blockSizes)
        keyBytes = .allocate(byteCount: max(bytes.count, 1), alignment: 8)
        bytes.withUnsafeBytes { if $0.count > 0 { keyBytes.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }

    func deallocate() {
        shared.deallocate()
        prefixes.deallocate()
        keyEnds.deallocate()
        offsets.deallocate()
        sizes.deallocate()
        keyBytes.deallocate()
    }

    /// The last internal key of data block `i`.
    @inline(__always)
    func key(_ i: Int) -> UnsafeRawBufferPointer {
        let start = i == 0 ? 0 : keyEnds[i - 1]
        return UnsafeRawBufferPointer(start: keyBytes + start, count: keyEnds[i] - start)
    }

    /// The first 8 bytes of `userKey` as a big-endian number, zero-padded: when two keys'
    /// prefixes differ they order as the keys do (a shorter key's padding is below any byte
    /// that follows in a longer key sharing its bytes, or the keys share those bytes too).
    @inline(__always)
    static func prefix(ofUserKey userKey: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = userKey.baseAddress else { return 0 }
        if userKey.count >= 8 { return UInt64(bigEndian: base.loadUnaligned(as: UInt64.self)) }
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(i < userKey.count ? base.load(fromByteOffset: i, as: UInt8.self) : 0) }
        return value
    }

    /// The first data block whose last key is `>= target` (an internal key whose user key is
    /// `userKey`), or `count` if every block ends below it.
    @inline(__always)
    func search(_ target: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer) -> Int {
        let (order, targetPrefix) = shared.place(userKey)
        if order != 0 { return order < 0 ? 0 : count }
        let comparator = InternalKeyComparator()
        var low = 0, high = count
        while low < high {
            let mid = (low &+ high) >> 1
            let p = prefixes[mid]
            let below: Bool
            if p != targetPrefix { below = p < targetPrefix } else { below = comparator.compare(key(mid), target) < 0 }
            if below { low = mid &+ 1 } else { high = mid }
        }
        return low
    }
}

/// Searches one data block for a point read, in place: on the bytes of the mapping (or of a
/// cached block) with no `Block` object, no iterator and no reference counting. Restart keys
/// are compared where they lie; the keys after the chosen restart are rebuilt in a scratch
/// buffer the caller provides (the get's stack). Every entry is bounds-checked; a malformed one
/// is reported as corruption at its offset in the block.
enum BlockPointSearch {
    enum Outcome {
        /// The newest visible entry of the key is a value at these block offsets.
        case value(start: Int, count: Int)
        /// The newest visible entry of the key is a tombstone.
        case deleted
        /// The block holds no visible entry of the key.
        case absent
        /// A key after the restart point does not fit in the scratch buffer.
        case keyTooLong
        case corrupt(offset: Int, detail: String)
    }

    /// Entry header at `offset`: the three lengths and where the key bytes start, or nil when
    /// the varints are malformed or the lengths run past `end` (the restart array).
    @inline(__always)
    private static func header(_ base: UnsafeRawPointer, at offset: Int, end: Int) -> (shared: Int, nonShared: Int, valueCount: Int, keyStart: Int)? {
        if offset &+ 3 <= end {
            // Short keys and values: three one-byte varints (LevelDB's DecodeEntry fast path).
            let s = base.load(fromByteOffset: offset, as: UInt8.self)
            let n = base.load(fromByteOffset: offset &+ 1, as: UInt8.self)
            let v = base.load(fromByteOffset: offset &+ 2, as: UInt8.self)
            if (s | n | v) < 0x80 {
                let keyStart = offset &+ 3
                guard Int(n) &+ Int(v) <= end &- keyStart else { return nil }
                return (Int(s), Int(n), Int(v), keyStart)
            }
        }
        let raw = UnsafeRawBufferPointer(start: base, count: end)
        var p = offset
        guard let (shared, a) = Varint.read(raw, at: p) else { return nil }
        p += a
        guard let (nonShared, b) = Varint.read(raw, at: p) else { return nil }
        p += b
        guard let (valueCount, c) = Varint.read(raw, at: p) else { return nil }
        p += c
        guard shared < UInt64(Int32.max), nonShared <= UInt64(end - p), valueCount <= UInt64(end - p) - nonShared else { return nil }
        return (Int(shared), Int(nonShared), Int(valueCount), p)
    }

    /// Finds the first entry whose internal key is `>= lookupKey` in the block of `count` bytes
    /// at `base` (layout: `BlockBuilder`) and says what it means for `userKey`.
    static func find(_ base: UnsafeRawPointer, count: Int, lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer,
                     scratch: UnsafeMutableRawBufferPointer) -> Outcome {
        guard count >= 4 else { return .corrupt(offset: 0, detail: "block of \(count) bytes is too short for a restart count") }
        let restarts = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)))
        guard restarts >= 1, restarts <= (count - 4) / 4 else {
            return .corrupt(offset: 0, detail: "block restart count \(restarts) does not fit in \(count) bytes")
        }
        let end = count - 4 - 4 * restarts
        @inline(__always) func restart(_ i: Int) -> Int {
            Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: end &+ 4 &* i, as: UInt32.self)))
        }
        let comparator = InternalKeyComparator()
        // The last restart whose key is < lookupKey (or restart 0).
        var low = 0, high = restarts - 1
        while low < high {
            let mid = (low &+ high &+ 1) >> 1
            let offset = restart(mid)
            guard offset < end else { return .corrupt(offset: end + 4 * mid, detail: "restart offset \(offset) past the entries") }
            guard let h = header(base, at: offset, end: end) else { return .corrupt(offset: offset, detail: "malformed entry header") }
            guard h.shared == 0 else { return .corrupt(offset: offset, detail: "restart entry shares \(h.shared) key bytes") }
            guard h.nonShared >= InternalKey.trailerSize else {
                return .corrupt(offset: offset, detail: "entry key of \(h.nonShared) bytes is shorter than the 8-byte trailer")
            }
            if comparator.compare(UnsafeRawBufferPointer(start: base + h.keyStart, count: h.nonShared), lookupKey) < 0 { low = mid } else { high = mid &- 1 }
        }
        var offset = restart(low)
        guard offset < end else { return .corrupt(offset: end + 4 * low, detail: "restart offset \(offset) past the entries") }
        let key = scratch.baseAddress!
        var keyCount = 0
        while offset < end {
            guard let h = header(base, at: offset, end: end) else { return .corrupt(offset: offset, detail: "malformed entry header") }
            guard h.shared <= keyCount else { return .corrupt(offset: offset, detail: "entry shares \(h.shared) bytes of a \(keyCount)-byte key") }
            let newCount = h.shared &+ h.nonShared
            guard newCount <= scratch.count else { return .keyTooLong }
            guard newCount >= InternalKey.trailerSize else {
                return .corrupt(offset: offset, detail: "entry key of \(newCount) bytes is shorter than the 8-byte trailer")
            }
            (key + h.shared).copyMemory(from: base + h.keyStart, byteCount: h.nonShared)
            keyCount = newCount
            let entryKey = UnsafeRawBufferPointer(start: key, count: keyCount)
            let valueStart = h.keyStart &+ h.nonShared
            if comparator.compare(entryKey, lookupKey) >= 0 {
                guard ByteOrder.equal(InternalKey.userKey(entryKey), userKey) else { return .absent }
                if InternalKey.type(entryKey) == .deletion { return .deleted }
                return .value(start: valueStart, count: h.valueCount)
            }
            offset = valueStart &+ h.valueCount
        }
        return .absent
    }
}
