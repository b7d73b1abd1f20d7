// LEB128 unsigned varints, as LevelDB and protobuf write them: 7 bits per byte, low bits first.

/// Encoding and decoding of unsigned LEB128 varints.
public enum Varint {
    /// Bytes needed to encode `value`.
    @inlinable
    public static func encodedLength(_ value: UInt64) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    /// Appends the encoding of `value` to `out`.
    @inlinable
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Writes the encoding of `value` at `pointer` and returns the number of bytes written.
    /// The caller guarantees `encodedLength(value)` bytes of room.
    @inlinable
    public static func write(_ value: UInt64, to pointer: UnsafeMutableRawPointer) -> Int {
        var v = value
        var i = 0
        while v >= 0x80 {
            pointer.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
            v >>= 7
            i += 1
        }
        pointer.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
        return i + 1
    }

    /// Reads a varint at `offset` in `bytes`.
    /// - Returns: the value and the number of bytes consumed, or nil if the input ends
    ///   early or the varint is longer than 10 bytes (overflows 64 bits).
    @inlinable
    public static func read(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (value: UInt64, length: Int)? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < bytes.count {
            let byte = bytes[i]
            if shift == 63 && byte > 1 { return nil }
            result |= UInt64(byte & 0x7F) << shift
            i += 1
            if byte < 0x80 { return (result, i - offset) }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    /// Reads a varint from memory known to hold a well-formed one (written by this process).
    /// Record headers of short keys and values are one byte, so that case returns at once (this
    /// runs on every key comparison of the in-memory engines).
    @inlinable @inline(__always)
    public static func readTrusted(_ pointer: UnsafeRawPointer) -> (value: UInt64, length: Int) {
        let first = pointer.load(as: UInt8.self)
        if first < 0x80 { return (UInt64(first), 1) }
        return readTrustedLong(pointer)
    }

    @inlinable
    static func readTrustedLong(_ pointer: UnsafeRawPointer) -> (value: UInt64, length: Int) {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = 0
        while true {
            let byte = pointer.load(fromByteOffset: i, as: UInt8.self)
            result |= UInt64(byte & 0x7F) << shift
            i += 1
            if byte < 0x80 { return (result, i) }
            shift += 7
        }
    }
}
