// libFuzzer entry point: feeds arbitrary bytes to both RESP parsers and checks, beyond "no
// crash", the properties in RESPConsistency (parse vs parseHead, splits, round trips); a
// violated property traps, which libFuzzer reports as a crash with the input saved.
// Build and run as described in README.md ("Fuzzing the RESP parser").

import RESP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var limits = RESPLimits()
    limits.maxBulkLength = 1 << 20
    limits.maxArrayLength = 1 << 16
    limits.maxInlineLength = 1 << 12
    limits.maxNesting = 32
    // Split points derived from the input itself, so a saved crash replays exactly: a cut
    // every `stride` bytes (1...8) plus one at a position chosen by a hash of the bytes.
    var hash: UInt64 = 0xcbf29ce484222325
    for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
    let stride = Int(hash % 8) + 1
    var splits = Array(Swift.stride(from: stride, to: size, by: stride))
    if size > 0 { splits.append(Int((hash >> 8) % UInt64(size))) }
    if let violation = RESPConsistency.check(bytes, splits: splits, limits: limits, unauthenticated: hash & 0x10000 != 0) {
        fatalError("RESP property violated: \(violation)")
    }
    return 0
}
