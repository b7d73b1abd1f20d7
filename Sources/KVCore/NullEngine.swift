// The engine that stores nothing: it measures the cost of everything around an engine.

import Synchronization

/// Accepts every write and forgets it; every read finds nothing; scans visit nothing.
/// Used to measure the driver's and server's own overhead.
public final class NullEngine: KeyValueEngine {
    public let name = "null"
    public let capabilities: EngineCapabilities = [.orderedScan, .atomicBatch]
    private let isClosed = Atomic<Bool>(false)

    public init() {}

    @inline(__always)
    private func checkOpen() throws(EngineError) {
        if isClosed.load(ordering: .relaxed) { throw .closed(engine: name) }
    }

    public func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R? {
        try checkOpen()
        return nil
    }

    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try checkOpen()
    }

    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        try checkOpen()
        return false
    }

    public func scan(from start: UnsafeRawBufferPointer, limit: Int, _ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try checkOpen()
    }

    public func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) {
        try checkOpen()
    }

    public func flush() throws(EngineError) { try checkOpen() }

    public func close() throws(EngineError) { isClosed.store(true, ordering: .relaxed) }

    public var count: Int? { 0 }

    public func checkInvariants() throws(EngineError) {}
}
