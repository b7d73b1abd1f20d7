// The record framing shared by the LSM write-ahead log, the LSM manifest and any other append-only log.

/// LevelDB's log format: a file is a sequence of 32 KiB blocks, records are split into
/// fragments that never cross a block boundary.
///
/// Byte by byte, each fragment is a 7-byte header followed by its payload:
///
///     offset 0   masked CRC32C of (type byte + payload)   4 bytes, little-endian (`CRC32C.mask`)
///     offset 4   payload length                           2 bytes, little-endian
///     offset 6   type: 1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST   1 byte
///     offset 7   payload                                  `length` bytes
///
/// A record that fits in the rest of the current block is one FULL fragment; otherwise it is a
/// FIRST fragment filling the block, MIDDLE fragments filling whole blocks, and a LAST
/// fragment. A fragment's `7 + length` never exceeds the space left in its block. When fewer
/// than 7 bytes are left in a block they are a trailer of zeros and the next fragment starts at
/// the next block. Type 0 is never written (it is what zero-filled space reads as).
///
/// A reader treats the end of the file inside a record (a torn write at a crash) as the end of
/// the log and reports the offset after the last complete record, so the owner can truncate
/// there. A checksum mismatch or malformed header followed by more data is corruption, reported
/// with the file's path and the fragment's offset.
public enum LogFormat {
    /// Bytes per block.
    public static let blockSize = 32 * 1024
    /// Bytes per fragment header.
    public static let headerSize = 7

    /// Fragment types.
    public enum FragmentType: UInt8 {
        case full = 1, first = 2, middle = 3, last = 4
    }
}
