// Field values: random printable bytes, or YCSB's deterministic data-integrity values.

import KVCore

/// Filling value buffers.
enum RandomValues {
    /// Fills `count` bytes at `pointer` with printable ASCII ('!' through '`'): each byte is
    /// 0x21 + 6 random bits, eight bytes per 64-bit draw. (YCSB's RandomByteIterator also maps
    /// 6 random bits per byte onto printable characters.) `pointer` has room for `count`
    /// rounded up to a multiple of 8.
    @inline(__always)
    static func fill(_ pointer: UnsafeMutablePointer<UInt8>, count: Int, using rng: inout SeededRandom) {
        let raw = UnsafeMutableRawPointer(pointer)
        var offset = 0
        while offset < count {
            let word = (rng.next() & 0x3F3F_3F3F_3F3F_3F3F) &+ 0x2121_2121_2121_2121
            raw.storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
            offset &+= 8  // below count + 8, so no overflow check per word
        }
    }
}

/// YCSB's deterministic values for `dataintegrity=true`.
///
/// The text starts as `key:field`; while shorter than the length, append ':' and then the
/// decimal Java `String.hashCode` of the whole text so far; finally cut to the length.
public enum DataIntegrity {
    /// Writes the value for (key, field) of `length` bytes at `out`, using `scratch` (reused,
    /// so steady-state calls do not allocate).
    static func write(key: UnsafeRawBufferPointer, field: [UInt8], length: Int,
                      to out: UnsafeMutablePointer<UInt8>, scratch: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: key)
        scratch.append(0x3A)
        scratch.append(contentsOf: field)
        var hash: Int32 = 0
        for byte in scratch { hash = hash &* 31 &+ Int32(byte) }
        while scratch.count < length {
            scratch.append(0x3A)
            hash = hash &* 31 &+ 0x3A
            // Decimal of the hash of the text including the ':' just appended.
            let start = scratch.count
            appendDecimal(hash, to: &scratch)
            for i in start..<scratch.count { hash = hash &* 31 &+ Int32(scratch[i]) }
        }
        scratch.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: length) }
    }

    /// Appends Java's `Integer.toString(value)`.
    static func appendDecimal(_ value: Int32, to out: inout [UInt8]) {
        if value < 0 { out.append(0x2D) }
        var magnitude = value.magnitude
        let start = out.count
        repeat {
            out.append(UInt8(magnitude % 10) + 0x30)
            magnitude /= 10
        } while magnitude != 0
        out[start...].reverse()
    }

    /// The value for (key, field) of `length` bytes.
    public static func value(key: String, field: String, length: Int) -> [UInt8] {
        var scratch: [UInt8] = []
        let keyBytes = Array(key.utf8)
        return [UInt8](unsafeUninitializedCapacity: max(length, 1)) { buffer, count in
            keyBytes.withUnsafeBytes { k in
                write(key: k, field: Array(field.utf8), length: length, to: buffer.baseAddress!, scratch: &scratch)
            }
            count = length
        }
    }
}
