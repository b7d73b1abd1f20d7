// Builds one sorted-table block: prefix-compressed keys with restart points.

import KVCore

/// Builds a block in the layout that `Block` reads.
///
/// Byte by byte, a block is a sequence of entries followed by the restart array:
///
///     per entry:  varint shared       bytes of the key equal to the previous key's prefix
///                 varint nonShared    bytes of the key that follow
///                 varint valueLength
///                 nonShared key bytes
///                 value bytes
///     restarts:   UInt32 LE offset of each restart entry (an entry with shared = 0), in order
///     count:      UInt32 LE number of restarts (at least 1)
///
/// Every `restartInterval`-th entry is a restart, storing its key whole, so a reader can
/// binary-search the restarts and decode forward from one. On disk the block is followed by
/// the 5-byte trailer that `SortedTableWriter` describes (type byte + masked CRC32C).
struct BlockBuilder {
    private(set) var buffer: [UInt8] = []
    private var restarts: [UInt32] = [0]
    private var counter = 0
    private var lastKey: [UInt8] = []
    let restartInterval: Int
    private(set) var entryCount = 0

    init(restartInterval: Int) {
        self.restartInterval = restartInterval
    }

    var isEmpty: Bool { entryCount == 0 }

    /// The block's size if finished now.
    var estimatedSize: Int { buffer.count + restarts.count * 4 + 4 }

    /// Appends an entry; keys must arrive in increasing order.
    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        var shared = 0
        if counter < restartInterval {
            let n = min(lastKey.count, key.count)
            while shared < n && lastKey[shared] == key[shared] { shared += 1 }
        } else {
            restarts.append(UInt32(buffer.count))
            counter = 0
        }
        Varint.append(UInt64(shared), to: &buffer)
        Varint.append(UInt64(key.count - shared), to: &buffer)
        Varint.append(UInt64(value.count), to: &buffer)
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        buffer.append(contentsOf: value)
        lastKey.removeAll(keepingCapacity: true)
        lastKey.append(contentsOf: key)
        counter += 1
        entryCount += 1
    }

    /// The finished block's bytes; the builder is reset for the next block.
    mutating func finish() -> [UInt8] {
        for r in restarts { withUnsafeBytes(of: r.littleEndian) { buffer.append(contentsOf: $0) } }
        withUnsafeBytes(of: UInt32(restarts.count).littleEndian) { buffer.append(contentsOf: $0) }
        let out = buffer
        buffer.removeAll(keepingCapacity: true)
        restarts = [0]
        counter = 0
        lastKey.removeAll(keepingCapacity: true)
        entryCount = 0
        return out
    }
}
