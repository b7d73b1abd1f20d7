// Reads a sorted table: footer, index and filter at open; data blocks through the block cache.

import KVCore
import KVStorage
import Synchronization

/// An open sorted table (format: `SortedTableWriter`). Every block read is checked against its
/// CRC32C; any failed check is `EngineError.corruption` naming the file and the byte offset.
final class SortedTable: @unchecked Sendable {
    let file: any StorageFile
    let path: String
    let number: UInt64
    let fileSize: Int64
    let index: Block
    /// The index parsed for point reads (`TableIndex`).
    let pointIndex: TableIndex
    /// The bloom filter's bytes, owned (freed in `deinit`).
    private let filterBytes: UnsafeMutableRawBufferPointer
    let entryCount: UInt64
    private let comparator = InternalKeyComparator()
    /// The whole file mapped, where the file system maps files: data blocks are then read in
    /// place, each checked against its CRC32C the first time it is used.
    ///
    /// Mapped blocks do not go through the block cache, on purpose: the kernel's page cache
    /// already holds their bytes, so caching them again would copy every block once and hold it
    /// twice in memory, to save only the small `Block` header object made per access. The block
    /// cache serves tables read with pread (file systems that do not map, such as the
    /// fault-injecting one), where it saves a read(2), a copy and a checksum per hit. A point
    /// read searches the mapped block where it lies (`BlockPointSearch`), so no header object is
    /// made either.
    private let mapping: MappedRegion?
    /// The mapping's first byte, when it covers the whole file (nil: read with pread).
    private let mappedBase: UnsafeRawPointer?
    /// Per data block (index order): whether its checksum was verified in the mapping. Set once,
    /// never cleared; two readers racing on a first use both verify, harmlessly.
    private let verified: UnsafeMutablePointer<Atomic<Bool>>

    /// Opens and checks the footer, index block and filter block of `file`.
    init(file: any StorageFile, number: UInt64) throws(EngineError) {
        self.file = file
        self.path = file.path
        self.number = number
        do {
            fileSize = try file.size()
        } catch { throw error.engineError }
        let footerSize = SortedTableWriter.footerSize
        guard fileSize >= Int64(footerSize) else {
            throw .corruption(file: path, offset: 0, detail: "file of \(fileSize) bytes is shorter than the \(footerSize)-byte footer")
        }
        let footerOffset = fileSize - Int64(footerSize)
        let footer: [UInt8]
        do { footer = try file.readExactly(at: footerOffset, count: footerSize) } catch { throw error.engineError }
        func u64(_ at: Int) -> UInt64 { footer.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt64.self)) } }
        func u32(_ at: Int) -> UInt32 { footer.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) } }
        guard u64(48) == SortedTableWriter.magic else {
            throw .corruption(file: path, offset: footerOffset + 48, detail: "bad table magic number 0x\(String(u64(48), radix: 16))")
        }
        let crc = footer.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<44])) }
        guard CRC32C.unmask(u32(44)) == crc else {
            throw .corruption(file: path, offset: footerOffset, detail: "footer checksum mismatch")
        }
        guard u32(40) == SortedTableWriter.formatVersion else {
            throw .corruption(file: path, offset: footerOffset + 40, detail: "unknown table format version \(u32(40))")
        }
        entryCount = u64(32)
        let indexContents = try Self.readBlock(file: file, path: path, offset: u64(0), size: u64(8), limit: footerOffset)
        index = try Block(contents: indexContents, path: path, fileOffset: Int64(u64(0)))
        let filter = try Self.readBlock(file: file, path: path, offset: u64(16), size: u64(24), limit: footerOffset)
        pointIndex = try TableIndex(index: index, dataLimit: UInt64(footerOffset), path: path)
        // Cache-line aligned, so each 64-byte block of a blocked filter is one line.
        let filterCopy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(filter.count, 1), alignment: 64)
        filter.withUnsafeBytes { if $0.count > 0 { filterCopy.copyMemory(from: $0) } }
        filterBytes = UnsafeMutableRawBufferPointer(start: filterCopy.baseAddress, count: filter.count)
        verified = .allocate(capacity: max(pointIndex.count, 1))
        for i in 0..<pointIndex.count { (verified + i).initialize(to: Atomic(false)) }
        mapping = try? file.mapReadOnly()
        if let mapping, mapping.bytes.count == Int(fileSize) { mappedBase = mapping.bytes.baseAddress } else { mappedBase = nil }
    }

    /// The filter's layout, from its last byte (nil: neither, so every probe says "maybe").
    var filterLayout: BloomLayout? {
        guard filterBytes.count >= 2 else { return nil }
        let last = filterBytes[filterBytes.count - 1]
        if last == BloomFilter.blockedTag { return .blocked }
        return last >= 1 && last <= 30 ? .legacy : nil
    }

    deinit {
        pointIndex.deallocate()
        filterBytes.deallocate()
        verified.deinitialize(count: pointIndex.count)
        verified.deallocate()
    }

    /// Reads a block at `offset` of `size` bytes (plus trailer) and checks its checksum.
    static func readBlock(file: any StorageFile, path: String, offset: UInt64, size: UInt64, limit: Int64) throws(EngineError) -> [UInt8] {
        let buffer = try readBlockBuffer(file: file, path: path, offset: offset, size: size, limit: limit)
        defer { buffer.deallocate() }
        return Array(UnsafeRawBufferPointer(rebasing: buffer[0..<Int(size)]))
    }

    /// Reads a block and its trailer into new memory (the caller frees it) and checks the
    /// trailer: compression type 0 and the masked CRC32C of block + type byte.
    static func readBlockBuffer(file: any StorageFile, path: String, offset: UInt64, size: UInt64, limit: Int64) throws(EngineError) -> UnsafeMutableRawBufferPointer {
        guard offset <= UInt64(limit), size <= UInt64(limit) - offset,
              UInt64(limit) - offset - size >= UInt64(SortedTableWriter.trailerSize) else {
            throw .corruption(file: path, offset: Int64(min(offset, UInt64(limit))), detail: "block handle (offset \(offset), size \(size)) runs past the data (\(limit) bytes)")
        }
        let n = Int(size)
        let total = n + SortedTableWriter.trailerSize
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 8)
        var done = 0
        while done < total {
            let got: Int
            do {
                got = try file.read(at: Int64(offset) + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            } catch {
                buffer.deallocate()
                throw error.engineError
            }
            if got == 0 {
                buffer.deallocate()
                throw .corruption(file: path, offset: Int64(offset) + Int64(done), detail: "file ends inside a block of \(size) bytes at offset \(offset)")
            }
            done += got
        }
        let stored = UInt32(littleEndian: buffer.baseAddress!.loadUnaligned(fromByteOffset: n + 1, as: UInt32.self))
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0...n]))
        guard CRC32C.unmask(stored) == actual else {
            buffer.deallocate()
            throw .corruption(file: path, offset: Int64(offset), detail: "block checksum mismatch (block of \(size) bytes)")
        }
        guard buffer[n] == 0 else {
            let type = buffer[n]
            buffer.deallocate()
            throw .corruption(file: path, offset: Int64(offset) + Int64(n), detail: "unknown block compression type \(type)")
        }
        return buffer
    }

    /// The data block a handle (index entry value) names: in place in the mapping, or through
    /// `cache`.
    func dataBlock(handle: UnsafeRawBufferPointer, cache: BlockCache) throws(EngineError) -> Block {
        guard let (offset, a) = Varint.read(handle, at: 0), let (size, _) = Varint.read(handle, at: a) else {
            throw .corruption(file: path, offset: index.fileOffset, detail: "malformed block handle in the index block")
        }
        if mappedBase != nil { return try mappedBlock(offset: offset, size: size) }
        return try cachedBlock(offset: offset, size: size, cache: cache)
    }

    /// A data block read with pread through `cache`.
    private func cachedBlock(offset: UInt64, size: UInt64, cache: BlockCache) throws(EngineError) -> Block {
        if let block = cache.lookup(file: number, offset: offset) { return block }
        let buffer = try Self.readBlockBuffer(file: file, path: path, offset: offset, size: size,
                                              limit: fileSize - Int64(SortedTableWriter.footerSize))
        let block = try Block(owning: buffer, count: Int(size), path: path, fileOffset: Int64(offset))
        cache.insert(file: number, offset: offset, block: block)
        return block
    }

    /// A data block read in place from the mapping; its checksum is verified on first use.
    private func mappedBlock(offset: UInt64, size: UInt64) throws(EngineError) -> Block {
        let limit = UInt64(fileSize) - UInt64(SortedTableWriter.footerSize)
        guard offset <= limit, size <= limit - offset, limit - offset - size >= UInt64(SortedTableWriter.trailerSize) else {
            throw .corruption(file: path, offset: Int64(min(offset, limit)), detail: "block handle (offset \(offset), size \(size)) runs past the data (\(limit) bytes)")
        }
        let start = mappedBase.unsafelyUnwrapped + Int(offset)
        // The block's ordinal, for its verified flag: offsets ascend in index order.
        var low = 0, high = pointIndex.count
        while low < high {
            let mid = (low + high) / 2
            if pointIndex.offsets[mid] < offset { low = mid + 1 } else { high = mid }
        }
        let ordinal = low < pointIndex.count && pointIndex.offsets[low] == offset ? low : nil
        if let ordinal {
            try verifyMapped(ordinal: ordinal, start: start, offset: offset, size: Int(size))
        } else {
            try checkMapped(start: start, offset: offset, size: Int(size))
        }
        return try Block(mapped: start, count: Int(size), mapping: mapping.unsafelyUnwrapped, path: path, fileOffset: Int64(offset))
    }

    /// Checks block `ordinal`'s checksum and compression type in the mapping, once.
    /// - Returns: whether this call checked it (its first use).
    @inline(__always) @discardableResult
    private func verifyMapped(ordinal: Int, start: UnsafeRawPointer, offset: UInt64, size: Int) throws(EngineError) -> Bool {
        if verified[ordinal].load(ordering: .acquiring) { return false }
        try checkMapped(start: start, offset: offset, size: size)
        verified[ordinal].store(true, ordering: .releasing)
        return true
    }

    private func checkMapped(start: UnsafeRawPointer, offset: UInt64, size n: Int) throws(EngineError) {
        let stored = UInt32(littleEndian: start.loadUnaligned(fromByteOffset: n + 1, as: UInt32.self))
        guard CRC32C.unmask(stored) == CRC32C.checksum(UnsafeRawBufferPointer(start: start, count: n + 1)) else {
            throw .corruption(file: path, offset: Int64(offset), detail: "block checksum mismatch (block of \(n) bytes)")
        }
        guard start.load(fromByteOffset: n, as: UInt8.self) == 0 else {
            throw .corruption(file: path, offset: Int64(offset) + Int64(n), detail: "unknown block compression type \(start.load(fromByteOffset: n, as: UInt8.self))")
        }
    }

    /// Looks up the newest entry of `userKey` visible at the sequence in `lookupKey`.
    ///
    /// The point-read path: the bloom filter probed with the get's one `hash` of the user key,
    /// the parsed index searched (`TableIndex.search`), and the
    /// data block searched in place (`BlockPointSearch`) with `scratch` for rebuilt keys; the
    /// value handed to `body` lies in the mapping (or the cached block), not copied.
    func get(_ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer, hash: UInt64,
             scratch: UnsafeMutableRawBufferPointer, cache: BlockCache,
             _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> LookupResult {
        var probe = NoReadProbe()
        return try get(lookupKey, userKey: userKey, hash: hash, scratch: scratch, cache: cache, level: 0, probe: &probe, body)
    }

    /// `get` telling `probe` the filter's answer and whether the table decided the key
    /// (`level` only labels the counts).
    @inline(__always)
    func get<P: ReadProbe>(_ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer, hash: UInt64,
                           scratch: UnsafeMutableRawBufferPointer, cache: BlockCache, level: Int, probe: inout P,
                           _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> LookupResult {
        let positive = BloomFilter.mayContain(UnsafeRawBufferPointer(filterBytes), hash: hash)
        probe.filter(level: level, positive: positive)
        guard positive else { return .notFound }
        let result = try search(lookupKey, userKey: userKey, scratch: scratch, cache: cache, probe: &probe, body)
        probe.tableDecided(result != .notFound)
        return result
    }

    @inline(__always)
    private func search<P: ReadProbe>(_ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer,
                                      scratch: UnsafeMutableRawBufferPointer, cache: BlockCache, probe: inout P,
                                      _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> LookupResult {
        let i = pointIndex.search(lookupKey, userKey: userKey)
        guard i < pointIndex.count else { return .notFound }
        let offset = pointIndex.offsets[i], size = pointIndex.sizes[i]
        if let mappedBase {
            let start = mappedBase + Int(offset)
            if try verifyMapped(ordinal: i, start: start, offset: offset, size: size) { probe.blockVerified() }
            let outcome = BlockPointSearch.find(start, count: size, lookupKey: lookupKey, userKey: userKey, scratch: scratch)
            return try finish(outcome, base: start, offset: offset, lookupKey: lookupKey, userKey: userKey, body) { () throws(EngineError) in
                try Block(mapped: start, count: size, mapping: mapping.unsafelyUnwrapped, path: path, fileOffset: Int64(offset))
            }
        }
        let block = try cachedBlock(offset: offset, size: UInt64(size), cache: cache)
        return try withExtendedLifetime(block) { () throws(EngineError) -> LookupResult in
            let base = UnsafeRawPointer(block.bytes.baseAddress!)
            let outcome = BlockPointSearch.find(base, count: size, lookupKey: lookupKey, userKey: userKey, scratch: scratch)
            return try finish(outcome, base: base, offset: offset, lookupKey: lookupKey, userKey: userKey, body) { () throws(EngineError) in block }
        }
    }

    /// Turns a block search's outcome into the lookup's; a key too long for the scratch buffer
    /// is searched again with a `BlockIterator` (which grows its key buffer) over `makeBlock()`.
    @inline(__always)
    private func finish(_ outcome: BlockPointSearch.Outcome, base: UnsafeRawPointer, offset: UInt64,
                        lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer,
                        _ body: (UnsafeRawBufferPointer) -> Void,
                        makeBlock: () throws(EngineError) -> Block) throws(EngineError) -> LookupResult {
        switch outcome {
        case let .value(start, count):
            body(UnsafeRawBufferPointer(start: base + start, count: count))
            return .found
        case .deleted: return .deleted
        case .absent: return .notFound
        case let .corrupt(at, detail):
            throw .corruption(file: path, offset: Int64(offset) + Int64(at), detail: detail)
        case .keyTooLong:
            let block = try makeBlock()
            let iterator = BlockIterator(block: block)
            try iterator.seek(lookupKey, comparator: comparator)
            guard iterator.isValid else { return .notFound }
            let key = iterator.key
            guard key.count >= InternalKey.trailerSize else {
                throw .corruption(file: path, offset: Int64(offset), detail: "entry key of \(key.count) bytes is shorter than the 8-byte trailer")
            }
            guard ByteOrder.equal(InternalKey.userKey(key), userKey) else { return .notFound }
            if InternalKey.type(key) == .deletion { return .deleted }
            body(iterator.value)
            return .found
        }
    }
}

/// Walks one table, or the files of one level of L1+ (sorted, not overlapping) as one sequence,
/// opening each file's table as the walk reaches it. The index block picks data blocks, read
/// through the cache as reached. One index and one data `BlockIterator` serve the whole walk
/// (re-pointed at each block), so moving to the next block allocates nothing.
final class TableIterator: InternalIterator {
    private let files: [FileMetaData]
    private var fileIndex: Int
    private var table: SortedTable?
    private var indexIterator: BlockIterator?
    private var data: BlockIterator?
    private var dataValid = false
    private let cache: BlockCache
    private let comparator = InternalKeyComparator()

    /// Positioned on the first entry `>= target` (internal key), or the first entry if nil.
    /// `files` is one level-0 file, or the files of one deeper level in key order.
    init(files: [FileMetaData], target: UnsafeRawBufferPointer?, cache: BlockCache) throws(EngineError) {
        self.files = files
        self.cache = cache
        fileIndex = target.map { Version.findFile(files, $0) } ?? 0
        if fileIndex < files.count {
            try open(files[fileIndex].table(), target: target)
            try skipEmpty()
        }
    }

    /// Positioned on the first entry `>= target` of one open table, or its first entry if nil.
    init(table: SortedTable, target: UnsafeRawBufferPointer?, cache: BlockCache) throws(EngineError) {
        files = []
        fileIndex = 0
        self.cache = cache
        try open(table, target: target)
        try skipEmpty()
    }

    /// Starts on `table` at the first entry `>= target` (or its first entry).
    private func open(_ table: SortedTable, target: UnsafeRawBufferPointer?) throws(EngineError) {
        self.table = table
        let index: BlockIterator
        if let existing = indexIterator { existing.reset(to: table.index); index = existing } else {
            index = BlockIterator(block: table.index)
            indexIterator = index
        }
        if let target { try index.seek(target, comparator: comparator) } else { try index.seekToFirst() }
        try loadBlock(target: target)
    }

    private func loadBlock(target: UnsafeRawBufferPointer?) throws(EngineError) {
        guard let table, let index = indexIterator, index.isValid else { dataValid = false; return }
        let block = try table.dataBlock(handle: index.value, cache: cache)
        let iterator: BlockIterator
        if let existing = data { existing.reset(to: block); iterator = existing } else {
            iterator = BlockIterator(block: block)
            data = iterator
        }
        if let target { try iterator.seek(target, comparator: comparator) } else { try iterator.seekToFirst() }
        dataValid = iterator.isValid
    }

    /// Moves on to the next block, and the next file, until an entry or the end.
    private func skipEmpty() throws(EngineError) {
        while !dataValid {
            if let index = indexIterator, index.isValid {
                try index.next()
                if index.isValid { try loadBlock(target: nil); continue }
            }
            fileIndex += 1
            guard fileIndex < files.count else { table = nil; return }
            try open(files[fileIndex].table(), target: nil)
        }
    }

    var isValid: Bool { dataValid }
    var key: UnsafeRawBufferPointer { data.unsafelyUnwrapped.key }
    var value: UnsafeRawBufferPointer { data.unsafelyUnwrapped.value }

    func next() throws(EngineError) {
        let iterator = data.unsafelyUnwrapped
        try iterator.next()
        if !iterator.isValid {
            dataValid = false
            try skipEmpty()
        }
    }
}
