// Unordered enumeration of every record, for engines without ordered scans (a replication snapshot of the hash engine).

/// An engine that can visit all of its records in no particular order.
public protocol RecordEnumerating: KeyValueEngine {
    /// Visits every record once, stopping early when `visit` returns false. Each record is
    /// seen whole; records written meanwhile may or may not be seen (callers that need one
    /// consistent view stop writers first, as the replication snapshot does).
    func forEachRecord(_ visit: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool) throws(EngineError)
}
