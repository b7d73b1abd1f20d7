// libFuzzer entry point: feeds arbitrary bytes to both RESP parsers; any crash is a bug.
// Build and run as described in README.md ("Fuzzing the RESP parser").

import RESP

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var limits = RESPLimits()
    limits.maxBulkLength = 1 << 20
    limits.maxArrayLength = 1 << 16
    limits.maxInlineLength = 1 << 12
    let values = RESPValueParser(limits: limits)
    var offset = 0
    while offset < size, let (_, n) = try? values.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]), baseOffset: offset) {
        offset += n
    }
    var commands = RESPCommandParser(limits: limits)
    var command = RESPCommand()
    offset = 0
    while offset < size, let n = try? commands.parse(UnsafeRawBufferPointer(rebasing: bytes[offset...]), baseOffset: offset, into: &command) {
        offset += n
    }
    return 0
}
