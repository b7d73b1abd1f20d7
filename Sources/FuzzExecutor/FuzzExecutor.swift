// libFuzzer entry point: the fuzzer's bytes choose a command sequence for the executor harness; a hang, malformed reply or model mismatch aborts.
// Build and run as FuzzRESP (README, "Fuzzing"): swift build -c release --product FuzzExecutor --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address

#if canImport(Glibc)
import Glibc
#endif
import KVCore
import KVEngines
import KVServer
import Logging

/// The fuzzer's input as a generator: each draw consumes one byte (choices in the grammar are
/// small), zero once the input is used up.
struct InputBytes: RandomNumberGenerator {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    mutating func next() -> UInt64 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return UInt64(bytes[offset])
    }
}

let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let clock = ManualWallClock()
    guard let keyspace = try? Keyspace(factory: { () throws(EngineError) in try StandardEngines.registry.open("skiplist") }) else {
        return 0
    }
    let executor = CommandExecutor(keyspace: keyspace, configuration: ServerConfiguration(port: 0), clock: clock, logger: quiet, seed: 1)
    let harness = ExecutorHarness(executor: executor, clock: clock)
    var input = InputBytes(bytes: UnsafeRawBufferPointer(start: data, count: size))
    // About three bytes per command; at most 256 commands per input.
    if let failure = harness.run(count: Swift.min(256, size / 3 + 1), random: &input) {
        print("FuzzExecutor: \(failure)")
        abort()
    }
    try? keyspace.close()
    return 0
}
