// Order-preserving 8-byte prefixes taken after the bytes every key of a sorted run shares.

import KVCore

/// The bytes a sorted run of user keys shares (the common prefix of its first and last key,
/// hence of every key between), and, for any key, where it stands against that run: below
/// every key, above every key, or sharing the bytes, with the 8 bytes after them as a
/// big-endian number (`TableIndex.prefix`, zero-padded).
///
/// Why after the shared bytes: keys such as the bench's zero-padded decimals
/// ("0000000001234567") share their first 8 to 11 bytes across a whole table or level, so a
/// prefix of the key's first 8 bytes ties everywhere and every binary-search step fell back to
/// a full key comparison through two more pointers. Two run members' suffix prefixes order as
/// the members do whenever they differ (both start with the shared bytes).
///
/// Owns its copy of the shared bytes: call `deallocate()` once.
struct SharedKeyPrefix {
    let shared: UnsafeMutableRawPointer
    let sharedCount: Int

    /// The common prefix of `first` and `last`, the smallest and largest key of the run.
    init(first: UnsafeRawBufferPointer, last: UnsafeRawBufferPointer) {
        var n = 0
        let limit = min(first.count, last.count)
        while n < limit && first[n] == last[n] { n += 1 }
        sharedCount = n
        shared = .allocate(byteCount: max(n, 1), alignment: 8)
        if n > 0 { shared.copyMemory(from: first.baseAddress!, byteCount: n) }
    }

    func deallocate() { shared.deallocate() }

    /// The suffix prefix of a key known to be in the run (it starts with the shared bytes).
    @inline(__always)
    func prefix(ofMember key: UnsafeRawBufferPointer) -> UInt64 {
        TableIndex.prefix(ofUserKey: UnsafeRawBufferPointer(rebasing: key[sharedCount...]))
    }

    /// -1 if `key` orders below every key of the run, +1 above every key, or 0 if it starts
    /// with the shared bytes; then `prefix` is its suffix prefix (else 0).
    @inline(__always)
    func place(_ key: UnsafeRawBufferPointer) -> (order: Int, prefix: UInt64) {
        let n = sharedCount
        if n == 0 { return (0, TableIndex.prefix(ofUserKey: key)) }
        if key.count >= n {
            let c = ByteOrder.compare(UnsafeRawBufferPointer(start: key.baseAddress, count: n),
                                      UnsafeRawBufferPointer(start: shared, count: n))
            if c == 0 { return (0, TableIndex.prefix(ofUserKey: UnsafeRawBufferPointer(rebasing: key[n...]))) }
            return (c < 0 ? -1 : 1, 0)
        }
        // Shorter than the shared bytes: below them if it is a prefix of them, else decided
        // by the first differing byte.
        return (ByteOrder.compare(key, UnsafeRawBufferPointer(start: shared, count: n)) < 0 ? -1 : 1, 0)
    }
}
