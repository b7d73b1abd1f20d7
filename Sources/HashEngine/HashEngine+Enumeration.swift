// The hash engine's unordered enumeration (RecordEnumerating), for replication snapshots.

import KVCore

extension HashEngine: RecordEnumerating {
    /// Visits every record, shard by shard, each shard under its lock (a record is seen in
    /// the new table or the old one during a migration, never both: migration moves it).
    public func forEachRecord(_ visit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) throws(EngineError) {
        try checkOpen()
        for shard in shards {
            let keepGoing: Bool = shard.lock.withLock {
                for table in [shard.table] + (shard.oldTable.map { [$0] } ?? []) {
                    for i in 0..<table.capacity where Tag.isLive(table.tag(at: i)) {
                        let (key, value, _) = PackedRecord.read(shard.records.address(table.locator(at: i)))
                        if !visit(key, value) { return false }
                    }
                }
                return true
            }
            if !keepGoing { return }
        }
    }
}
