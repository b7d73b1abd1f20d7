// The one protocol every kvlab engine implements, and conveniences layered on top of it.

/// A key-value store over byte-string keys and values.
///
/// The primitive operations take borrowed `UnsafeRawBufferPointer`s, so a caller that reuses
/// its buffers (the driver, the server, `kvlab bench`) makes no copy and no allocation to call
/// them; reads hand the stored value to a closure instead of copying it out. Array-based
/// conveniences live in an extension.
///
/// Engines are thread-safe: any number of threads may call any method at once, and each
/// call is atomic (a reader sees a value wholly before or wholly after a concurrent write).
/// Closures passed to `get` and `scan` run while the engine may hold internal locks: they must
/// not call back into the same engine.
public protocol KeyValueEngine: AnyObject, Sendable {
    /// The registry name of the engine kind (`hash`, `skiplist`, ...).
    var name: String { get }
    /// What this engine can do.
    var capabilities: EngineCapabilities { get }

    /// Looks up `key` and, if present, returns `body` applied to the stored value.
    /// - Returns: `body`'s result, or nil if the key is absent.
    /// - Throws: `EngineError.closed` after `close()`, or an I/O or corruption error.
    func get<R>(_ key: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) throws(EngineError) -> R?

    /// Stores `value` under `key`, replacing any previous value.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError)

    /// Removes `key`.
    /// - Returns: true if the key was present.
    func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool

    /// Visits up to `limit` records with keys `>= start` in ascending byte order, stopping early
    /// when `visit` returns false. The records visited form one consistent view.
    /// - Throws: `EngineError.unsupported` on engines without `.orderedScan`.
    func scan(from start: UnsafeRawBufferPointer, limit: Int, _ visit: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) throws(EngineError)

    /// Applies every operation of `batch` in order.
    func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError)

    /// Makes every completed write durable (persistent engines); a no-op in memory.
    func flush() throws(EngineError)

    /// Flushes and releases resources. Later calls throw `EngineError.closed`; closing twice is allowed.
    func close() throws(EngineError)

    /// Number of live records, where the engine can count them cheaply (nil otherwise).
    var count: Int? { get }

    /// Checks the engine's internal invariants (ordering, levels, table accounting).
    /// - Throws: `EngineError.corruption` describing the first violation found.
    func checkInvariants() throws(EngineError)
}

// MARK: - Array conveniences

/// A key and value copied out of an engine.
public struct KeyValuePair: Hashable, Sendable, CustomStringConvertible {
    public var key: [UInt8]
    public var value: [UInt8]
    public init(key: [UInt8], value: [UInt8]) { self.key = key; self.value = value }
    public var description: String { "\(key.debugText) => \(value.debugText)" }
}

extension KeyValueEngine {
    /// The value stored under `key`, copied out.
    public func get(_ key: [UInt8]) throws(EngineError) -> [UInt8]? {
        try key.withBytes { (k) throws(EngineError) in try get(k) { Array($0) } }
    }

    /// Stores `value` under `key`.
    public func put(_ key: [UInt8], _ value: [UInt8], options: WriteOptions = .default) throws(EngineError) {
        try key.withBytes { (k) throws(EngineError) in
            try value.withBytes { (v) throws(EngineError) in try put(k, v, options: options) }
        }
    }

    /// Removes `key`; true if it was present.
    @discardableResult
    public func delete(_ key: [UInt8], options: WriteOptions = .default) throws(EngineError) -> Bool {
        try key.withBytes { (k) throws(EngineError) in try delete(k, options: options) }
    }

    /// Up to `limit` records with keys `>= start`, in key order, copied out.
    public func scan(from start: [UInt8], limit: Int) throws(EngineError) -> [KeyValuePair] {
        var out: [KeyValuePair] = []
        try start.withBytes { (s) throws(EngineError) in
            try scan(from: s, limit: limit) { k, v in
                out.append(KeyValuePair(key: Array(k), value: Array(v)))
                return true
            }
        }
        return out
    }

    /// True if the engine keeps keys in order.
    public var supportsOrderedScan: Bool { capabilities.contains(.orderedScan) }
}

extension Array where Element == UInt8 {
    /// The bytes as text when printable ASCII, else as hex; for messages and test output.
    public var debugText: String {
        if allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return "\"" + String(decoding: self, as: UTF8.self) + "\"" }
        let hex = prefix(32).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        return "0x" + hex + (count > 32 ? "...(\(count) bytes)" : "")
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` that keeps a typed error type (the standard one is only `rethrows`).
    @inlinable
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in
            do throws(E) { return .success(try body(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}
