// One key-value record packed into a single chunk of memory, for in-memory engines.

/// The in-memory layout of one record, byte by byte:
///
///     varint keyLength | varint valueLength | key bytes | value bytes
///
/// For a 16-byte key and 100-byte value that is 1 + 1 + 16 + 100 = 118 bytes (a 120-byte
/// slab chunk): 2 bytes of overhead instead of two heap objects with headers.
public enum PackedRecord {
    /// Bytes needed to pack a record of these sizes.
    @inlinable
    public static func size(keyCount: Int, valueCount: Int) -> Int {
        Varint.encodedLength(UInt64(keyCount)) + Varint.encodedLength(UInt64(valueCount)) + keyCount + valueCount
    }

    /// Writes the record at `pointer`, which has `size(keyCount:valueCount:)` bytes of room.
    @inlinable
    public static func write(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, to pointer: UnsafeMutableRawPointer) {
        var offset = Varint.write(UInt64(key.count), to: pointer)
        offset += Varint.write(UInt64(value.count), to: pointer + offset)
        if key.count > 0 { (pointer + offset).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        offset += key.count
        if value.count > 0 { (pointer + offset).copyMemory(from: value.baseAddress!, byteCount: value.count) }
    }

    /// The key and value of the record at `pointer`, and its total packed size.
    @inlinable
    public static func read(_ pointer: UnsafeRawPointer) -> (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, size: Int) {
        let (keyCount, a) = Varint.readTrusted(pointer)
        let (valueCount, b) = Varint.readTrusted(pointer + a)
        let keyStart = pointer + a + b
        let key = UnsafeRawBufferPointer(start: keyStart, count: Int(keyCount))
        let value = UnsafeRawBufferPointer(start: keyStart + Int(keyCount), count: Int(valueCount))
        return (key, value, a + b + Int(keyCount) + Int(valueCount))
    }

    /// Only the key of the record at `pointer`.
    @inlinable
    public static func key(_ pointer: UnsafeRawPointer) -> UnsafeRawBufferPointer {
        let (keyCount, a) = Varint.readTrusted(pointer)
        let (_, b) = Varint.readTrusted(pointer + a)
        return UnsafeRawBufferPointer(start: pointer + a + b, count: Int(keyCount))
    }
}
