// What an engine can do, so callers (CLI, driver, conformance suite) can ask instead of guessing.

/// The optional abilities of an engine.
public struct EngineCapabilities: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The engine keeps what is written: reads return what was put (false only for `null`).
    public static let storesData = EngineCapabilities(rawValue: 1 << 0)
    /// `scan(from:limit:)` returns keys in ascending byte order.
    public static let orderedScan = EngineCapabilities(rawValue: 1 << 1)
    /// Data survives `close()` and reopening on the same directory or file.
    public static let persistent = EngineCapabilities(rawValue: 1 << 2)
    /// A write with `sync: true` is durable when it returns.
    public static let durableSync = EngineCapabilities(rawValue: 1 << 3)
    /// A `WriteBatch` is applied atomically: readers see all of it or none of it.
    public static let atomicBatch = EngineCapabilities(rawValue: 1 << 4)

    /// Names in a stable order, as `kvlab engines` prints them.
    public static let names: [(EngineCapabilities, String)] = [
        (.storesData, "stores-data"),
        (.orderedScan, "ordered-scan"),
        (.persistent, "persistent"),
        (.durableSync, "durable-sync"),
        (.atomicBatch, "atomic-batch"),
    ]

    /// The names of the abilities present in this set.
    public var nameList: [String] {
        Self.names.filter { contains($0.0) }.map(\.1)
    }

    public var description: String {
        let list = nameList
        return list.isEmpty ? "none" : list.joined(separator: ", ")
    }
}

/// How a write reaches durable storage.
public struct WriteOptions: Sendable, Hashable {
    /// When true the write is durable (on stable storage) when the call returns.
    /// In-memory engines accept and ignore it.
    public var sync: Bool

    public init(sync: Bool = false) { self.sync = sync }

    /// Not synced: durable at the engine's own pace.
    public static let `default` = WriteOptions()
    /// Synced: durable on return.
    public static let synced = WriteOptions(sync: true)
}
