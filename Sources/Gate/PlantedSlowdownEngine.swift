// An engine wrapper that adds a fixed extra loop to every get: the planted regression the gate must catch.

import KVCore
import Synchronization

/// Wraps an engine and burns `iterations` rounds of a mixing loop in each `get`, as a code change
/// that makes reads slower would. Used by `scripts/gate-selftest.sh` (through the environment
/// variable `KVLAB_PLANTED_GET_SLOWDOWN`) to show that counting mode and the repeat-aware gate
/// catch a known slowdown and pass an unchanged rerun. Everything else passes straight through.
public final class PlantedSlowdownEngine: KeyValueEngine, @unchecked Sendable {
    /// The engine doing the real work.
    public let inner: any KeyValueEngine
    /// Loop rounds per get.
    public let iterations: Int

    /// The environment variable `kvlab` reads to wrap its engine (a positive loop count).
    public static let environmentVariable = "KVLAB_PLANTED_GET_SLOWDOWN"

    /// Wraps `inner`.
    public init(_ inner: any KeyValueEngine, iterations: Int) {
        self.inner = inner
        self.iterations = iterations
    }

    public var name: String { inner.name }
    public var capabilities: EngineCapabilities { inner.capabilities }
    public var count: Int? { inner.count }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        var state = UInt64(key.count) | 1
        for _ in 0..<iterations {
            state = (state ^ (state >> 29)) &* 0xBF58_476D_1CE4_E5B9
        }
        // The result feeds an opaque sink so the optimizer cannot drop the loop.
        plantedSink(state)
        return try inner.get(key, body)
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try inner.put(key, value, options: options)
    }
    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        try inner.delete(key, options: options)
    }
    public func scan(from start: UnsafeRawBufferPointer, limit: Int,
                     _ visit: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try inner.scan(from: start, limit: limit, visit)
    }
    public func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) { try inner.write(batch, options: options) }
    public func flush() throws(EngineError) { try inner.flush() }
    public func close() throws(EngineError) { try inner.close() }
    public func checkInvariants() throws(EngineError) { try inner.checkInvariants() }

    /// Wraps `engine` when the environment asks for a planted slowdown, else returns it unchanged.
    public static func wrapIfRequested(_ engine: any KeyValueEngine, environment: [String: String]) -> any KeyValueEngine {
        guard let text = environment[environmentVariable], let iterations = Int(text), iterations > 0 else { return engine }
        return PlantedSlowdownEngine(engine, iterations: iterations)
    }
}

/// Where the loop's result goes: an atomic store the optimizer must keep.
let plantedSinkStorage = Atomic<UInt64>(0)

@inline(never)
func plantedSink(_ value: UInt64) {
    plantedSinkStorage.store(value, ordering: .relaxed)
}
