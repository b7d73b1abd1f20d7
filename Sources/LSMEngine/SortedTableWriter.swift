// Writes an immutable sorted table (.sst): data blocks, bloom filter, index, footer.

import KVCore
import KVStorage

/// Writes a sorted table. Byte by byte, a table file is:
///
///     data block 0 | trailer        entries with internal keys (layout: `BlockBuilder`)
///     ...
///     data block n | trailer
///     filter block | trailer        `BloomFilter` bytes over every entry's user key, in either
///                                   `BloomLayout` (the filter's last byte tells which; format
///                                   version 1 covers both: older readers take a blocked filter
///                                   for "maybe" and search the table)
///     index block  | trailer        a block (restart interval 1) whose entry i has key = the
///                                   last internal key of data block i and value = varint
///                                   offset | varint size of data block i (size without trailer)
///     footer (56 bytes)
///
/// Every block is followed by a 5-byte trailer: 1 byte compression type (0 = none, the only
/// one written) and the masked CRC32C (LE UInt32) of the block's bytes plus that type byte.
///
/// The footer, at the end of the file, all little-endian:
///
///     offset 0   index block offset    UInt64
///     offset 8   index block size      UInt64 (without trailer)
///     offset 16  filter block offset   UInt64
///     offset 24  filter block size     UInt64 (without trailer)
///     offset 32  entry count           UInt64
///     offset 40  format version        UInt32 (1)
///     offset 44  masked CRC32C of bytes 0..<44   UInt32
///     offset 48  magic number          UInt64 0x6B766C61_62535354 ("kvlabSST" read as LE bytes TSSbalvk)
///
/// Entries must be added in increasing internal-key order.
final class SortedTableWriter {
    static let magic: UInt64 = 0x6B76_6C61_6253_5354
    static let footerSize = 56
    static let trailerSize = 5
    static let formatVersion: UInt32 = 1

    let file: any StorageFile
    private var offset: Int64 = 0
    private var dataBlock: BlockBuilder
    private var indexBlock = BlockBuilder(restartInterval: 1)
    private var lastKey: [UInt8] = []
    private var hashes: [UInt64] = []
    private var pendingIndexEntry = false
    private var pendingHandle: (offset: Int64, size: Int) = (0, 0)
    private let blockSize: Int
    private let bitsPerKey: Int
    private let bloomLayout: BloomLayout
    private(set) var entryCount = 0
    private(set) var smallest: [UInt8] = []
    private var writeBuffer: [UInt8] = []

    init(file: any StorageFile, blockSize: Int, bitsPerKey: Int, bloomLayout: BloomLayout = .blocked, restartInterval: Int = 16) {
        self.file = file
        self.blockSize = blockSize
        self.bitsPerKey = bitsPerKey
        self.bloomLayout = bloomLayout
        dataBlock = BlockBuilder(restartInterval: restartInterval)
        writeBuffer.reserveCapacity(256 * 1024)
    }

    /// The largest key added so far.
    var largest: [UInt8] { lastKey }

    /// Bytes written so far plus the current block: how big the file is about to be.
    var estimatedFileSize: Int64 { offset + Int64(writeBuffer.count) + Int64(dataBlock.estimatedSize) }

    func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StorageError) {
        if pendingIndexEntry { try addIndexEntry() }
        if entryCount == 0 { smallest = Array(key) }
        dataBlock.add(key, value)
        lastKey.removeAll(keepingCapacity: true)
        lastKey.append(contentsOf: key)
        hashes.append(BloomFilter.hash(InternalKey.userKey(key)))
        entryCount += 1
        if dataBlock.estimatedSize >= blockSize { try finishDataBlock() }
    }

    private func addIndexEntry() throws(StorageError) {
        var handle: [UInt8] = []
        Varint.append(UInt64(pendingHandle.offset), to: &handle)
        Varint.append(UInt64(pendingHandle.size), to: &handle)
        lastKey.withUnsafeBytes { k in handle.withUnsafeBytes { indexBlock.add(k, $0) } }
        pendingIndexEntry = false
    }

    private func finishDataBlock() throws(StorageError) {
        guard !dataBlock.isEmpty else { return }
        let contents = dataBlock.finish()
        pendingHandle = try writeBlock(contents)
        pendingIndexEntry = true
    }

    /// Appends a block and its trailer; returns its handle.
    private func writeBlock(_ contents: [UInt8]) throws(StorageError) -> (offset: Int64, size: Int) {
        let blockOffset = offset + Int64(writeBuffer.count)
        writeBuffer.append(contentsOf: contents)
        writeBuffer.append(0)
        // CRC of the block's bytes and the type byte just appended.
        let full = writeBuffer.withUnsafeBytes { raw in
            CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[Int(blockOffset - offset)...])))
        }
        withUnsafeBytes(of: full.littleEndian) { writeBuffer.append(contentsOf: $0) }
        if writeBuffer.count >= 192 * 1024 { try flushBuffer() }
        return (blockOffset, contents.count)
    }

    private func flushBuffer() throws(StorageError) {
        guard !writeBuffer.isEmpty else { return }
        try file.write(at: offset, writeBuffer)
        offset += Int64(writeBuffer.count)
        writeBuffer.removeAll(keepingCapacity: true)
    }

    /// Writes the filter, index and footer, syncs the file and closes it.
    /// - Returns: the file's size.
    func finish() throws(StorageError) -> Int64 {
        try finishDataBlock()
        if pendingIndexEntry { try addIndexEntry() }
        let filter = try writeBlock(BloomFilter.build(hashes: hashes, bitsPerKey: bitsPerKey, layout: bloomLayout))
        let index = try writeBlock(indexBlock.finish())
        var footer: [UInt8] = []
        for v in [UInt64(index.offset), UInt64(index.size), UInt64(filter.offset), UInt64(filter.size), UInt64(entryCount)] {
            withUnsafeBytes(of: v.littleEndian) { footer.append(contentsOf: $0) }
        }
        withUnsafeBytes(of: Self.formatVersion.littleEndian) { footer.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32C.mask(CRC32C.checksum(footer)).littleEndian) { footer.append(contentsOf: $0) }
        withUnsafeBytes(of: Self.magic.littleEndian) { footer.append(contentsOf: $0) }
        writeBuffer.append(contentsOf: footer)
        try flushBuffer()
        try file.sync()
        try file.close()
        return offset
    }
}
