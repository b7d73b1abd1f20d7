// Opening: read the manifest, replay the logs it still needs, start a fresh manifest and log,
// and remove files nothing refers to.

import KVCore
import KVStorage

extension LSMEngine {
    func recover() throws(EngineError) {
        let directory = options.directory
        do { try fileSystem.createDirectory(directory) } catch { throw error.engineError }
        if versions.exists {
            try versions.recover()
        }
        let names: [String]
        do { names = try fileSystem.list(directory) } catch { throw error.engineError }
        // Never reuse a number of any file present (a log made after the last manifest edit
        // has a number the manifest has not counted).
        var logs: [UInt64] = []
        for name in names {
            switch FileNames.parse(name) {
            case let .table(n), let .manifest(n):
                versions.nextFileNumber = max(versions.nextFileNumber, n + 1)
            case let .log(n):
                versions.nextFileNumber = max(versions.nextFileNumber, n + 1)
                if n >= versions.logNumber { logs.append(n) }
            default: break
            }
        }
        logs.sort()

        var edit = VersionEdit()
        var memtable = MemTable(logNumber: 0, seed: memtableSeed)
        var lastSequence = versions.lastSequence
        var events = versions.recoveryEvents
        for (index, number) in logs.enumerated() {
            let logPath = path(FileNames.log(number))
            let file: any StorageFile
            var reader: LogReader
            do {
                file = try fileSystem.open(logPath, mode: .readWrite)
                reader = try LogReader(file: file, stopAtDamage: true)
            } catch { throw error.engineError }
            while true {
                let offset = reader.lastGoodOffset
                let record: [UInt8]?
                do { record = try reader.next() } catch { throw error.engineError }
                guard let record else { break }
                let (sequence, batch) = try WriteAheadLog.decode(record, path: logPath, offset: offset)
                var s = sequence
                let list = memtable.list
                var key: [UInt8] = []
                batch.forEach { operation in
                    key.removeAll(keepingCapacity: true)
                    switch operation {
                    case let .put(k, v):
                        InternalKey.append(k, sequence: s, type: .value, to: &key)
                        key.withUnsafeBytes { _ = list.insert($0, v) }
                    case let .delete(k):
                        InternalKey.append(k, sequence: s, type: .deletion, to: &key)
                        key.withUnsafeBytes { _ = list.insert($0, UnsafeRawBufferPointer(start: nil, count: 0)) }
                    }
                    s += 1
                }
                if batch.count > 0 { lastSequence = max(lastSequence, s - 1) }
                if memtable.approximateMemoryUsage >= options.memtableSize {
                    if let added = try writeLevel0Table(memtable) { edit.newFiles.append(added) }
                    memtableSeed &+= 1
                    memtable = MemTable(logNumber: 0, seed: memtableSeed)
                }
            }
            if let damage = reader.damage {
                // Synced data or unsynced tail? Proof of a sync past the damage: an intact
                // record after it whose synced-through mark passes it, or an intact record in a
                // later log (a log is synced to its end before the next one gets a record).
                var proof: String?
                for later in reader.salvage() {
                    if let mark = WriteAheadLog.syncedThrough(later.payload), mark > damage.recordOffset {
                        proof = "the intact record at offset \(later.offset) says \(mark) bytes of this log were synced"
                        break
                    }
                }
                if proof == nil {
                    for later in logs[(index + 1)...] where try hasIntactRecord(later) {
                        proof = "log \(FileNames.log(later)) holds records, and it was started only after this log was synced"
                        break
                    }
                }
                if let proof {
                    try? file.close()
                    throw .corruption(file: logPath, offset: damage.offset, detail: "\(damage.detail), in synced data: \(proof)")
                }
                // The unsynced tail a power loss tore: cut it off (RocksDB's point-in-time recovery).
                do {
                    try file.truncate(to: damage.recordOffset)
                    try file.sync()
                } catch { throw error.engineError }
                events.append(RecoveryEvent(file: logPath, offset: damage.recordOffset,
                                            droppedBytes: reader.fileSize - damage.recordOffset, detail: damage.detail))
            }
            try? file.close()
        }
        recoveryEvents = events
        if !memtable.isEmpty, let added = try writeLevel0Table(memtable) { edit.newFiles.append(added) }

        // A fresh log for new writes; the manifest points at it, so older logs are not needed.
        let logNumber = versions.newFileNumber()
        do {
            let file = try fileSystem.open(path(FileNames.log(logNumber)), mode: .truncate)
            log = LogWriter(file: file)
        } catch { throw error.engineError }
        mem = MemTable(logNumber: logNumber, seed: memtableSeed)
        var builder = VersionBuilder(base: versions.current)
        builder.apply(edit) { versions.makeFile($0) }
        let version = builder.build()
        version.computeScore(options: options)
        edit.logNumber = logNumber
        versions.install(version, edit: edit)
        versions.lastSequence = lastSequence
        try versions.writeSnapshotManifest()
        deleteObsoleteFiles()
    }

    /// Whether the log `number` holds any intact record (recovery: proof that earlier logs were synced).
    private func hasIntactRecord(_ number: UInt64) throws(EngineError) -> Bool {
        do {
            let file = try fileSystem.open(path(FileNames.log(number)), mode: .readOnly)
            defer { try? file.close() }
            var reader = try LogReader(file: file, stopAtDamage: true)
            return try reader.next() != nil || !reader.salvage().isEmpty
        } catch { throw error.engineError }
    }

    /// Removes files no live version or log needs: older logs and manifests, tables not in
    /// the current version, temporary files. At open only (later, tables go when released).
    func deleteObsoleteFiles() {
        guard let names = try? fileSystem.list(options.directory) else { return }
        var live = Set<UInt64>()
        for level in versions.current.files { for f in level { live.insert(f.number) } }
        for name in names {
            let remove: Bool
            switch FileNames.parse(name) {
            case let .log(n): remove = n < versions.logNumber
            case let .manifest(n): remove = n != versions.manifestNumber
            case let .table(n): remove = !live.contains(n) && n < versions.nextFileNumber
            case .temporary: remove = true
            default: remove = false
            }
            if remove { try? fileSystem.remove(path(name)) }
        }
    }

    /// Writes `memtable` as a level-0 table, keeping the newest entry of each user key.
    /// - Returns: the table's description, or nil if the memtable was empty.
    func writeLevel0Table(_ memtable: MemTable) throws(EngineError) -> VersionEdit.NewFile? {
        let number = state.withLock { versions.newFileNumber() }
        let tablePath = path(FileNames.table(number))
        let writer: SortedTableWriter
        do {
            writer = SortedTableWriter(file: try fileSystem.open(tablePath, mode: .truncate),
                                       blockSize: options.blockSize, bitsPerKey: options.bloomBitsPerKey,
                                   bloomLayout: options.bloomLayout)
        } catch { throw error.engineError }
        do {
            try memtable.list.withReadView { (view) throws(StorageError) in
                var cursor = view.first()
                var previous: UnsafeRawBufferPointer? = nil
                while cursor.isValid {
                    let key = cursor.key
                    let userKey = InternalKey.userKey(key)
                    if let previous, ByteOrder.equal(previous, userKey) { cursor.next(); continue }
                    previous = userKey
                    try writer.add(key, cursor.value)
                    cursor.next()
                }
            }
            guard writer.entryCount > 0 else {
                try? writer.file.close()
                try? fileSystem.remove(tablePath)
                return nil
            }
            let largest = writer.largest
            let smallest = writer.smallest
            let size = try writer.finish()
            return VersionEdit.NewFile(level: 0, number: number, size: size, smallest: smallest, largest: largest)
        } catch {
            // Left for the next open to remove (delete nothing after a failure).
            try? writer.file.close()
            throw error.engineError
        }
    }
}
