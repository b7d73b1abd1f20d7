// The background thread: writes immutable memtables to level 0 and compacts levels downward.

import KVCore
import KVStorage

/// Tables chosen for one compaction: `inputs` of `level` and the overlapping `overlaps` of
/// `level + 1`, merged into new tables at `level + 1`.
struct Compaction {
    var level: Int
    var inputs: [FileMetaData]
    var overlaps: [FileMetaData]
    var version: Version
}

extension LSMEngine {
    func backgroundLoop() {
        state.lock()
        while true {
            while !shuttingDown && backgroundError == nil && imm == nil && versions.current.compactionScore < 1
                    && versions.current.seekCompaction == nil {
                state.wait()
            }
            if shuttingDown || backgroundError != nil { break }
            let hasImmutable = imm != nil
            state.unlock()
            do {
                if hasImmutable {
                    try flushImmutable()
                } else {
                    try compactOnce()
                }
            } catch {
                state.lock()
                if backgroundError == nil && !shuttingDown { backgroundError = error }
                state.broadcast()
                state.unlock()
            }
            state.lock()
        }
        backgroundRunning = false
        state.broadcast()
        state.unlock()
    }

    /// Writes the immutable memtable as a level-0 table and records it in the manifest along
    /// with the log number of the current memtable, making older logs obsolete.
    func flushImmutable() throws(EngineError) {
        guard let table = state.withLock({ imm }) else { return }
        let added = try writeLevel0Table(table)
        do { try fileSystem.syncDirectory(options.directory) } catch { throw error.engineError }
        state.lock()
        var edit = VersionEdit()
        if let added { edit.newFiles.append(added) }
        edit.logNumber = mem.logNumber
        edit.nextFileNumber = versions.nextFileNumber
        edit.lastSequence = visibleSequence
        let base = versions.current
        state.unlock()
        let version = try versions.logEdit(&edit, base: base)
        state.lock()
        // Only this thread changes the version set, so `base` is still current.
        versions.install(version, edit: edit)
        imm = nil
        let obsoleteLogs = versions.logNumber
        state.broadcast()
        state.unlock()
        stats.lock.withLock { stats.flushes += 1 }
        if let names = try? fileSystem.list(options.directory) {
            for name in names {
                if case let .log(n) = FileNames.parse(name), n < obsoleteLogs { try? fileSystem.remove(path(name)) }
            }
        }
    }

    /// Chooses the level with the highest score, or when no score asks for a compaction the
    /// table reads asked for (`Version.seekCompaction`), as LevelDB does (state lock held).
    func pickCompaction() -> Compaction? {
        let version = versions.current
        let level: Int
        var seekFile: FileMetaData? = nil
        var inputs: [FileMetaData]
        if version.compactionScore >= 1 {
            level = version.compactionLevel
        } else if let due = version.seekCompaction {
            version.seekCompaction = nil
            // Not from the last level (nothing below), and still listed where it was charged.
            guard due.level < Version.levelCount - 1, version.files[due.level].contains(where: { $0 === due.file }) else { return nil }
            level = due.level
            seekFile = due.file
        } else {
            return nil
        }
        if level == 0 {
            inputs = version.files[0]
        } else if let seekFile {
            inputs = [seekFile]
        } else {
            let pointer = versions.compactionPointers[level]
            let comparator = InternalKeyComparator()
            let next = version.files[level].first { file in
                pointer.isEmpty || file.largest.withUnsafeBytes { a in pointer.withUnsafeBytes { b in comparator.compare(a, b) > 0 } }
            }
            inputs = [next ?? version.files[level][0]]
        }
        guard !inputs.isEmpty else { return nil }
        var smallest = inputs[0].smallest.withUnsafeBytes { Array(InternalKey.userKey($0)) }
        var largest = inputs[0].largest.withUnsafeBytes { Array(InternalKey.userKey($0)) }
        for f in inputs {
            let s = f.smallest.withUnsafeBytes { Array(InternalKey.userKey($0)) }
            let l = f.largest.withUnsafeBytes { Array(InternalKey.userKey($0)) }
            if s.lexicographicallyPrecedes(smallest) { smallest = s }
            if largest.lexicographicallyPrecedes(l) { largest = l }
        }
        let overlaps = version.overlapping(level: level + 1, smallest: smallest, largest: largest)
        return Compaction(level: level, inputs: inputs, overlaps: overlaps, version: version)
    }

    func compactOnce() throws(EngineError) {
        guard let compaction = state.withLock({ pickCompaction() }) else { return }
        let level = compaction.level
        var edit = VersionEdit()
        let lastInput = compaction.inputs.max { a, b in
            a.largest.withUnsafeBytes { x in b.largest.withUnsafeBytes { y in InternalKeyComparator().compare(x, y) < 0 } }
        }!
        if level > 0 { edit.compactionPointers.append((level, lastInput.largest)) }
        for f in compaction.inputs { edit.deletedFiles.append((level, f.number)) }
        for f in compaction.overlaps { edit.deletedFiles.append((level + 1, f.number)) }

        if compaction.inputs.count == 1 && compaction.overlaps.isEmpty {
            // A trivial move: the file's keys meet nothing below; relink it one level down.
            let f = compaction.inputs[0]
            edit.newFiles.append(.init(level: level + 1, number: f.number, size: f.size, smallest: f.smallest, largest: f.largest))
            stats.lock.withLock { stats.trivialMoves += 1 }
        } else {
            edit.newFiles = try mergeTables(compaction)
            do { try fileSystem.syncDirectory(options.directory) } catch { throw error.engineError }
            stats.lock.withLock { stats.compactions += 1 }
        }
        state.lock()
        edit.nextFileNumber = versions.nextFileNumber
        edit.lastSequence = visibleSequence
        let base = versions.current
        state.unlock()
        // On failure delete nothing: the edit may still be in the manifest (written, not
        // synced), and then its outputs are live. The engine fails; the next open keeps
        // whatever the manifest names and removes the rest.
        let version = try versions.logEdit(&edit, base: base)
        state.lock()
        versions.install(version, edit: edit)
        state.broadcast()
        state.unlock()
    }

    /// Merges the inputs into new tables at `level + 1`, keeping the newest entry of each user
    /// key and dropping a tombstone when no deeper level may hold the key.
    private func mergeTables(_ compaction: Compaction) throws(EngineError) -> [VersionEdit.NewFile] {
        let outputLevel = compaction.level + 1
        var children: [TableIterator] = []
        if compaction.level == 0 {
            for f in compaction.inputs { children.append(try TableIterator(files: [f], target: nil, cache: compactionCache)) }
        } else {
            children.append(try TableIterator(files: compaction.inputs, target: nil, cache: compactionCache))
        }
        if !compaction.overlaps.isEmpty {
            children.append(try TableIterator(files: compaction.overlaps, target: nil, cache: compactionCache))
        }
        let merged = MergingIterator(memtables: [], target: nil, tables: children)
        var outputs: [VersionEdit.NewFile] = []
        var writer: SortedTableWriter?
        var writerNumber: UInt64 = 0
        var lastUserKey: [UInt8] = []
        var hasLast = false
        var sinceCheck = 0

        func finishOutput() throws(EngineError) {
            guard let w = writer else { return }
            let smallest = w.smallest, largest = w.largest
            do {
                let size = try w.finish()
                outputs.append(.init(level: outputLevel, number: writerNumber, size: size, smallest: smallest, largest: largest))
            } catch { throw error.engineError }
            writer = nil
        }

        do throws(EngineError) {
            while merged.isValid {
                sinceCheck += 1
                if sinceCheck >= 1000 {
                    sinceCheck = 0
                    // A full memtable waits on this thread: flush it first so writers go on.
                    if state.withLock({ imm != nil && !shuttingDown }) { try flushImmutable() }
                    if state.withLock({ shuttingDown }) { throw EngineError.closed(engine: name) }
                }
                let key = merged.key
                let userKey = InternalKey.userKey(key)
                if hasLast && lastUserKey.withUnsafeBytes({ ByteOrder.equal($0, userKey) }) { try merged.next(); continue }
                lastUserKey.removeAll(keepingCapacity: true)
                lastUserKey.append(contentsOf: userKey)
                hasLast = true
                if InternalKey.type(key) == .deletion && compaction.version.isBottomLevel(for: userKey, below: outputLevel) {
                    try merged.next()
                    continue
                }
                if writer == nil {
                    writerNumber = state.withLock { versions.newFileNumber() }
                    do {
                        writer = SortedTableWriter(file: try fileSystem.open(path(FileNames.table(writerNumber)), mode: .truncate),
                                                   blockSize: options.blockSize, bitsPerKey: options.bloomBitsPerKey,
                                   bloomLayout: options.bloomLayout)
                    } catch { throw error.engineError }
                }
                do { try writer!.add(key, merged.value) } catch { throw error.engineError }
                if writer!.estimatedFileSize >= options.targetFileSize { try finishOutput() }
                try merged.next()
            }
            try finishOutput()
        } catch {
            // The outputs are in no manifest edit: the next open removes them (delete nothing
            // after a failure).
            try? writer?.file.close()
            throw error
        }
        return outputs
    }

    /// Compaction reads bypass the shared cache (a one-pass scan would evict hot blocks).
    var compactionCache: BlockCache { BlockCache(capacity: 0) }
}
