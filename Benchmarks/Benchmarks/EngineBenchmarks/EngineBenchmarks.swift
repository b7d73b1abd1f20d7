// Engine micro-benchmarks: puts and gets of 1M random 16-byte keys with 100-byte values, per engine.

import Benchmark
import HashEngine
import KVCore
import SkipListEngine

/// The engines measured. Adding an engine is one line here.
let engines: [(name: String, make: @Sendable () -> any KeyValueEngine)] = [
    ("null", { NullEngine() }),
    ("hash", { HashEngine(shardCount: 64) }),
    ("skiplist", { SkipListEngine() }),
]

/// Keys and values laid out once, before any measurement, so the measured loops only index
/// preallocated buffers and call the engine.
///
/// The keys and values follow the spec shared with `kvlab bench` and
/// `reference/kvbench_std.cpp`: key `i` is the decimal of `i` zero-padded to `keySize` bytes;
/// the value is `valueSize` bytes of `'a' + (j % 26)` whose first `min(8, valueSize)` bytes are
/// overwritten per operation with the little-endian operation index.
final class Workload: @unchecked Sendable {
    // @unchecked: the buffers are written only in init and read-only afterwards, except `value`,
    // which is written only by the one benchmark closure running at a time.
    static let recordCount = 1_000_000
    static let keySize = 16
    static let valueSize = 100
    static let seed: UInt64 = 301

    /// Every key once, in a Fisher–Yates permutation (the order of the put benchmarks).
    let putKeys: UnsafeMutableRawBufferPointer
    /// `recordCount` keys drawn uniformly with replacement (the order of the get benchmarks).
    let getKeys: UnsafeMutableRawBufferPointer
    /// The value buffer; its first 8 bytes carry the operation index.
    let value: UnsafeMutableRawBufferPointer

    /// Built on first use, shared by every benchmark (the same keys for every engine).
    static let shared = Workload()

    private init() {
        let n = Self.recordCount
        let k = Self.keySize
        var random = SeededRandom(seed: Self.seed)

        var permutation = Array(0..<n)
        var i = n - 1
        while i >= 1 {
            let j = Int(random.next(below: UInt64(i + 1)))
            permutation.swapAt(i, j)
            i -= 1
        }
        putKeys = .allocate(byteCount: n * k, alignment: 8)
        for (slot, index) in permutation.enumerated() {
            Self.writeKey(index, to: putKeys.baseAddress! + slot * k)
        }

        getKeys = .allocate(byteCount: n * k, alignment: 8)
        for slot in 0..<n {
            let index = Int(random.next(below: UInt64(n)))
            Self.writeKey(index, to: getKeys.baseAddress! + slot * k)
        }

        value = .allocate(byteCount: Self.valueSize, alignment: 8)
        for j in 0..<Self.valueSize {
            value[j] = UInt8(ascii: "a") + UInt8(j % 26)
        }
    }

    /// Writes the decimal of `index`, zero-padded on the left to `keySize` bytes.
    static func writeKey(_ index: Int, to pointer: UnsafeMutableRawPointer) {
        var rest = index
        var position = keySize - 1
        while position >= 0 {
            pointer.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: position, as: UInt8.self)
            rest /= 10
            position -= 1
        }
        precondition(rest == 0, "key \(index) needs more than \(keySize) digits")
    }

    /// The key at `slot` of `keys`.
    @inline(__always)
    func key(_ keys: UnsafeMutableRawBufferPointer, _ slot: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: keys.baseAddress! + slot * Self.keySize, count: Self.keySize)
    }

    /// The value of operation `operation`: the fixed pattern with the index in its first bytes.
    @inline(__always)
    func value(forOperation operation: Int) -> UnsafeRawBufferPointer {
        let stamped = min(8, Self.valueSize)
        withUnsafeBytes(of: UInt64(operation).littleEndian) { bytes in
            value.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: stamped)
        }
        return UnsafeRawBufferPointer(value)
    }

    /// Puts every key of `putKeys`, in order, into `engine`.
    func putAll(into engine: any KeyValueEngine) throws(EngineError) {
        for slot in 0..<Self.recordCount {
            try engine.put(key(putKeys, slot), value(forOperation: slot), options: .default)
        }
    }
}

/// One iteration is 1M operations (`.mega`), so reported times and counts are per operation;
/// few iterations keep the whole suite within a few minutes.
/// (A function, not a global: `Benchmark.Configuration` is not `Sendable`.)
func makeConfiguration() -> Benchmark.Configuration {
    Benchmark.Configuration(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        warmupIterations: 1,
        scalingFactor: .mega,
        maxDuration: .seconds(30),
        maxIterations: 5,
        thresholds: [
            // Allocation counts are stable run to run: the real gate. Absolute, in allocations per
            // iteration (1M operations): a relative threshold never fires against a baseline of 0.
            .mallocCountTotal: .init(absolute: [.p50: 100]),
            // Times are noisy on this machine (see SWIFT-NOTES): only a large change counts.
            .wallClock: .init(relative: [.p50: 25.0]),
            .throughput: .init(relative: [.p50: 25.0]),
        ]
    )
}

let benchmarks: @Sendable () -> Void = {
    let configuration = makeConfiguration()
    for (name, make) in engines {
        // A fresh engine per iteration; only the puts are measured, not creation or teardown.
        Benchmark("\(name) put random", configuration: configuration) { (benchmark: Benchmark, workload: Workload) throws in
            let engine = make()
            benchmark.startMeasurement()
            try workload.putAll(into: engine)
            benchmark.stopMeasurement()
            try engine.close()
        } setup: {
            Workload.shared
        }

        // One engine, prefilled once before the iterations; each iteration is 1M gets.
        Benchmark("\(name) get random", configuration: configuration) { (benchmark: Benchmark, state: (workload: Workload, engine: any KeyValueEngine)) throws in
            let (workload, engine) = state
            var foundBytes = 0
            for slot in benchmark.scaledIterations {
                foundBytes &+= try engine.get(workload.key(workload.getKeys, slot)) { $0.count } ?? 0
            }
            blackHole(foundBytes)
        } setup: {
            let workload = Workload.shared
            let engine = make()
            try workload.putAll(into: engine)
            return (workload: workload, engine: engine)
        }
    }
}
