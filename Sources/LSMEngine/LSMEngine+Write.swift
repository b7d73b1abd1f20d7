// The write path: a queue of writers whose leader logs a whole group with one append and one
// sync (group commit), then applies it to the memtable and publishes its sequence numbers; and
// the periodic syncer of `durability: .periodic`.

import KVCore
import KVStorage

/// A write waiting in the queue. The caller's buffers stay valid because the caller waits
/// until the write is done.
final class PendingWrite: @unchecked Sendable {
    enum Kind {
        case put(UnsafeRawBufferPointer, UnsafeRawBufferPointer)
        /// A delete that reports whether the key existed: always a group of its own.
        case delete(UnsafeRawBufferPointer)
        case batch(WriteBatch)
        /// No operation; syncs the log (`flush()`).
        case syncOnly
    }

    let kind: Kind
    let sync: Bool
    var done = false
    var error: EngineError?
    var existed = false

    init(kind: Kind, sync: Bool) {
        self.kind = kind
        self.sync = sync
    }

    var operationCount: Int {
        switch kind {
        case .put, .delete: return 1
        case let .batch(b): return b.count
        case .syncOnly: return 0
        }
    }

    var isDelete: Bool { if case .delete = kind { return true } else { return false } }
}

extension LSMEngine {
    public func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) {
        try performWrite(PendingWrite(kind: .put(key, value), sync: options.sync))
    }

    public func delete(_ key: UnsafeRawBufferPointer, options: WriteOptions) throws(EngineError) -> Bool {
        let write = PendingWrite(kind: .delete(key), sync: options.sync)
        try performWrite(write)
        return write.existed
    }

    public func write(_ batch: WriteBatch, options: WriteOptions) throws(EngineError) {
        try performWrite(PendingWrite(kind: .batch(batch), sync: options.sync))
    }

    /// Group bytes beyond which a leader stops adding followers.
    static var maxGroupBytes: Int { 1 << 20 }

    func performWrite(_ write: PendingWrite) throws(EngineError) {
        state.lock()
        if closed { state.unlock(); throw .closed(engine: name) }
        writers.append(write)
        while !write.done && writers.first !== write { state.wait() }
        if write.done {
            state.unlock()
            if let error = write.error { throw error }
            return
        }
        // This thread leads a group: it alone touches the log and inserts into the memtable.
        do throws(EngineError) {
            if closed { throw EngineError.closed(engine: name) }
            try makeRoomForWrite(force: false)
        } catch {
            writers.removeFirst()
            state.broadcast()
            state.unlock()
            throw error
        }
        var group = 1
        var sync = write.sync || options.durability == .always
        var bytes = 0
        if !write.isDelete {
            while group < writers.count, !writers[group].isDelete, bytes < Self.maxGroupBytes {
                let follower = writers[group]
                if case let .batch(b) = follower.kind { bytes += b.encoded.count }
                if case let .put(k, v) = follower.kind { bytes += k.count + v.count }
                sync = sync || follower.sync
                group += 1
            }
        }
        let members = Array(writers[0..<group])
        let first = visibleSequence + 1
        let log = self.log
        let mem = self.mem
        let writesThrough = options.durability != .buffered
        let snapshot = (mem, imm, versions.current, visibleSequence)
        state.unlock()

        var failure: EngineError?
        var operations = 0
        do throws(EngineError) {
            if case let .delete(key) = write.kind {
                write.existed = try lookup(key, mem: snapshot.0, imm: snapshot.1, version: snapshot.2, sequence: snapshot.3,
                                             chargeSeeks: false) { _ in }
            }
            WriteAheadLog.begin(&logScratch, sequence: first, syncedThrough: logSync.syncedThrough.load(ordering: .acquiring))
            for member in members {
                switch member.kind {
                case let .put(k, v): WriteAheadLog.appendPut(&logScratch, k, v)
                case let .delete(k): WriteAheadLog.appendDelete(&logScratch, k)
                case let .batch(b): logScratch.append(contentsOf: b.encoded)
                case .syncOnly: break
                }
                operations += member.operationCount
            }
            if operations > 0 {
                WriteAheadLog.setCount(&logScratch, operations)
                do { try log.append(logScratch) } catch { throw error.engineError }
            }
            if sync {
                // Under the syncer's lock: after its fsync failed, a second fsync of the same file
                // can report success over the pages the kernel dropped, so it must not run (and
                // acknowledge this group as durable) once that failure is known.
                do {
                    try log.flush()
                    try logSync.lock.withLock { () throws(StorageError) in
                        if let failure = logSync.failure { throw failure }
                        do throws(StorageError) { try log.file.sync() } catch { logSync.failure = error; throw error }
                    }
                } catch { throw error.engineError }
                logSync.writtenThrough.store(log.size, ordering: .releasing)
                logSync.noteSynced(through: log.size)
                stats.lock.withLock { stats.logSyncs += 1 }
            } else if writesThrough && operations > 0 {
                // periodic: the record reaches the OS before anyone in the group returns, so
                // a killed process loses nothing acknowledged.
                do { try log.flush() } catch { throw error.engineError }
                logSync.writtenThrough.store(log.size, ordering: .releasing)
            }
            if operations > 0 { insert(members, into: mem, firstSequence: first) }
        } catch {
            failure = error
        }

        state.lock()
        if let failure {
            // The log may hold part of this group; no later write may follow it there, and a
            // failed fsync is never retried: the engine has failed for good.
            if backgroundError == nil { backgroundError = failure }
        } else {
            visibleSequence = first + UInt64(operations) - 1
            if operations == 0 { visibleSequence = first - 1 }
        }
        for member in members {
            member.error = failure
            member.done = true
        }
        writers.removeFirst(group)
        state.broadcast()
        state.unlock()
        if let failure { throw failure }
    }

    /// Applies a logged group to the memtable (the leader only).
    private func insert(_ members: [PendingWrite], into mem: MemTable, firstSequence: UInt64) {
        // One insert (one lock acquisition) per entry: readers cannot see the group before
        // `visibleSequence` covers it, so it still appears atomically.
        var sequence = firstSequence
        let list = mem.list
        func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, _ type: ValueType) {
            keyScratch.removeAll(keepingCapacity: true)
            InternalKey.append(key, sequence: sequence, type: type, to: &keyScratch)
            keyScratch.withUnsafeBytes { _ = list.insert($0, value) }
            sequence += 1
        }
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        for member in members {
            switch member.kind {
            case let .put(k, v): add(k, v, .value)
            case let .delete(k): add(k, empty, .deletion)
            case let .batch(b):
                b.forEach { operation in
                    switch operation {
                    case let .put(k, v): add(k, v, .value)
                    case let .delete(k): add(k, empty, .deletion)
                    }
                }
            case .syncOnly: break
            }
        }
    }

    /// Makes sure the memtable has room (state lock held): slows writes down by a millisecond
    /// when level 0 is filling up, waits when the immutable memtable is still being flushed or
    /// level 0 is full, and otherwise switches to a new memtable and log.
    func makeRoomForWrite(force: Bool) throws(EngineError) {
        var allowDelay = !force
        var force = force
        while true {
            if let backgroundError { throw backgroundError }
            if closed { throw .closed(engine: name) }
            let level0 = versions.current.files[0].count
            if allowDelay && level0 >= options.level0SlowdownTrigger {
                let start = options.clock.nanoseconds()
                state.wait(nanoseconds: 1_000_000)
                allowDelay = false
                let waited = options.clock.nanoseconds() - start
                stats.lock.withLock { stats.slowdowns += 1; stats.stallNanoseconds += waited }
                continue
            }
            if !force && mem.approximateMemoryUsage < options.memtableSize { return }
            if imm != nil || level0 >= options.level0StopTrigger {
                let start = options.clock.nanoseconds()
                state.wait()
                let waited = options.clock.nanoseconds() - start
                stats.lock.withLock { stats.stallNanoseconds += waited }
                continue
            }
            // Switch: a new log, the full memtable becomes immutable. The I/O runs without the
            // state lock, so readers and the background thread go on: this thread leads the
            // write group, so no one else touches the log or the memtable meanwhile, and `imm`
            // is nil, so the background thread does not change it either.
            let number = versions.newFileNumber()
            let oldLog = log
            state.unlock()
            var newLog: LogWriter?
            var failure: EngineError?
            do throws(StorageError) {
                let file = try fileSystem.open(path(FileNames.log(number)), mode: .truncate)
                // The new log's directory entry must be durable before a synced write relies on it.
                try fileSystem.syncDirectory(options.directory)
                // Sync the old log: a later synced write in the new log must not survive a
                // crash that loses earlier writes (recovery is always a prefix of the writes).
                try logSync.lock.withLock { () throws(StorageError) in
                    if let failure = logSync.failure { throw failure }
                    do throws(StorageError) { try oldLog.sync() } catch { logSync.failure = error; throw error }
                    try oldLog.close()
                    logSync.file = file
                    logSync.writtenThrough.store(0, ordering: .releasing)
                    logSync.syncedThrough.store(0, ordering: .releasing)
                }
                newLog = LogWriter(file: file)
            } catch {
                failure = error.engineError
            }
            state.lock()
            if let failure {
                // Final: a retried fsync could report success over pages the kernel dropped.
                if backgroundError == nil { backgroundError = failure }
                state.broadcast()
                throw failure
            }
            log = newLog!
            memtableSeed &+= 1
            imm = mem
            mem = MemTable(logNumber: number, seed: memtableSeed)
            force = false
            state.broadcast()
        }
    }

    // MARK: - Periodic sync

    /// The `lsm-sync` thread of `durability: .periodic`: fsyncs the log every interval (when
    /// something new was written) until `stopPeriodicSync()`. A failed fsync fails the engine.
    func periodicSyncLoop(intervalNanoseconds: UInt64) {
        syncerLock.lock()
        while !syncerStopping {
            syncerLock.wait(nanoseconds: intervalNanoseconds)
            if syncerStopping { break }
            syncerLock.unlock()
            let failed = syncLogInBackground()
            syncerLock.lock()
            if failed { break }
        }
        syncerRunning = false
        syncerLock.broadcast()
        syncerLock.unlock()
    }

    /// One background fsync of the log. Returns true if it failed (the engine has then failed).
    func syncLogInBackground() -> Bool {
        do {
            let synced = try logSync.lock.withLock { () throws(StorageError) -> Bool in
                guard let file = logSync.file, logSync.failure == nil else { return false }
                // Everything handed to the OS before this load is covered by the fsync.
                let through = logSync.writtenThrough.load(ordering: .acquiring)
                guard through > logSync.syncedThrough.load(ordering: .acquiring) else { return false }
                // Recorded before the lock is released: no later fsync may then be trusted.
                do throws(StorageError) { try file.sync() } catch { logSync.failure = error; throw error }
                logSync.noteSynced(through: through)
                return true
            }
            if synced { stats.lock.withLock { stats.logSyncs += 1 } }
            return false
        } catch {
            state.lock()
            if backgroundError == nil && !closed { backgroundError = error.engineError }
            state.broadcast()
            state.unlock()
            return true
        }
    }

    /// Stops the periodic syncer (if any) and waits for it; it syncs nothing more.
    func stopPeriodicSync() {
        syncerLock.lock()
        syncerStopping = true
        syncerLock.broadcast()
        while syncerRunning { syncerLock.wait() }
        syncerLock.unlock()
    }
}
