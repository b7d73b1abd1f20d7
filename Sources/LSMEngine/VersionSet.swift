// The manifest: the log of version edits that makes each change to the live tables atomic.

import KVCore
import KVStorage

/// The current version plus the counters that outlive a process (next file number, last
/// sequence, log number), kept durable in a manifest (record format: `VersionEdit`).
///
/// `CURRENT` holds the name of the live manifest and a newline. It is replaced by writing
/// `CURRENT.tmp`, syncing it, renaming it over `CURRENT` and syncing the directory, so a crash
/// leaves either the old manifest or the new one live. Each open writes a fresh manifest that
/// starts with a snapshot of the recovered version.
///
/// Not thread-safe: the engine reads and changes it under its state lock, and only one thread
/// (open, then the background thread) writes the manifest.
final class VersionSet: @unchecked Sendable {
    let options: LSMOptions
    let files: TableFiles
    private(set) var current: Version
    var nextFileNumber: UInt64 = 2
    var lastSequence: UInt64 = 0
    var logNumber: UInt64 = 0
    var compactionPointers: [[UInt8]] = Array(repeating: [], count: Version.levelCount)
    private(set) var manifestNumber: UInt64 = 0
    private var manifest: LogWriter?
    /// Set when a manifest append or sync failed: nothing more is written to it, ever.
    private(set) var failed = false
    /// What recovery cut off the manifest's tail.
    private(set) var recoveryEvents: [RecoveryEvent] = []

    var fileSystem: any FileSystem { options.fileSystem }
    func path(_ name: String) -> String { FilePath.join(options.directory, name) }

    init(options: LSMOptions, files: TableFiles) {
        self.options = options
        self.files = files
        current = Version(files: Array(repeating: [], count: Version.levelCount))
    }

    func newFileNumber() -> UInt64 {
        defer { nextFileNumber += 1 }
        return nextFileNumber
    }

    // MARK: - Recovery

    /// Whether the directory holds an engine (a `CURRENT` file).
    var exists: Bool { fileSystem.exists(path(FileNames.current)) }

    /// Rebuilds the current version from the manifest `CURRENT` names.
    /// - Throws: corruption naming the manifest (or CURRENT) and the byte offset.
    func recover() throws(EngineError) {
        let currentPath = path(FileNames.current)
        let name: String
        do {
            let file = try fileSystem.open(currentPath, mode: .readOnly)
            defer { try? file.close() }
            let bytes = try file.readExactly(at: 0, count: Int(try file.size()))
            guard bytes.last == UInt8(ascii: "\n"), case .manifest = FileNames.parse(String(decoding: bytes.dropLast(), as: UTF8.self)) else {
                throw EngineError.corruption(file: currentPath, offset: 0, detail: "expected 'MANIFEST-<number>' and a newline, found \(bytes.debugText)")
            }
            name = String(decoding: bytes.dropLast(), as: UTF8.self)
        } catch let error as StorageError {
            throw error.engineError
        } catch let error as EngineError {
            throw error
        } catch {
            throw .io(path: currentPath, operation: "read", errno: 5, message: "\(error)")
        }
        let manifestPath = path(name)
        var reader: LogReader
        do {
            let file = try fileSystem.open(manifestPath, mode: .readOnly)
            defer { try? file.close() }
            reader = try LogReader(file: file, stopAtDamage: true)
        } catch {
            if case .notFound = error { throw .corruption(file: currentPath, offset: 0, detail: "names '\(name)', which does not exist") }
            throw error.engineError
        }
        var builder = VersionBuilder(base: current)
        var sawLog = false, sawNext = false, sawSequence = false
        while true {
            let offset = reader.lastGoodOffset
            let record: [UInt8]?
            do { record = try reader.next() } catch { throw error.engineError }
            guard let record else { break }
            let edit = try VersionEdit(decoding: record, path: manifestPath, offset: offset, maxLevel: Version.levelCount)
            builder.apply(edit) { self.makeFile($0) }
            if let v = edit.logNumber { logNumber = v; sawLog = true }
            if let v = edit.nextFileNumber { nextFileNumber = v; sawNext = true }
            if let v = edit.lastSequence { lastSequence = v; sawSequence = true }
            for p in edit.compactionPointers { compactionPointers[p.level] = p.key }
        }
        if let damage = reader.damage {
            // Each edit is appended only after the one before it was synced, so an intact edit
            // after the damage proves the damaged one was synced: report it. Otherwise the
            // damage is the last edit, unsynced when the power went: cut it off (the new
            // manifest written at open leaves it behind).
            if let later = reader.salvage(scanEveryOffset: true).first {
                throw .corruption(file: manifestPath, offset: damage.offset,
                                  detail: "\(damage.detail), in synced data: an intact edit follows at offset \(later.offset)")
            }
            recoveryEvents.append(RecoveryEvent(file: manifestPath, offset: damage.recordOffset,
                                                droppedBytes: reader.fileSize - damage.recordOffset, detail: damage.detail))
        }
        guard sawLog, sawNext, sawSequence else {
            throw .corruption(file: manifestPath, offset: reader.lastGoodOffset,
                              detail: "manifest lacks its log number, next file number or last sequence (\(reader.tornTail.map { "torn at \($0.offset): \($0.detail)" } ?? "ends early"))")
        }
        let version = builder.build()
        // Every table the manifest names must exist; and the log the manifest points at must
        // exist unless nothing was ever logged to it: a missing one means the manifest lost
        // a record (a torn or damaged tail) that a deletion already relied on.
        for level in version.files {
            for file in level where !fileSystem.exists(file.path) {
                throw .corruption(file: manifestPath, offset: reader.lastGoodOffset,
                                  detail: "names table \(FileNames.table(file.number)), which does not exist\(reader.tornTail.map { " (manifest torn at \($0.offset))" } ?? "")")
            }
            for file in level where file.number >= nextFileNumber {
                throw .corruption(file: manifestPath, offset: reader.lastGoodOffset, detail: "table \(file.number) is not below the next file number \(nextFileNumber)")
            }
        }
        if let torn = reader.tornTail, !fileSystem.exists(path(FileNames.log(logNumber))) {
            throw .corruption(file: manifestPath, offset: torn.offset,
                              detail: "the manifest ends in a damaged record (\(torn.detail)) and log \(logNumber) it points at is gone")
        }
        version.computeScore(options: options)
        current = version
        manifestNumber = 0
    }

    func makeFile(_ f: VersionEdit.NewFile) -> FileMetaData {
        FileMetaData(number: f.number, size: f.size, smallest: f.smallest, largest: f.largest, files: files)
    }

    // MARK: - Writing

    /// Starts a new manifest holding a snapshot of the current version and the counters, and
    /// points `CURRENT` at it. Called at open.
    func writeSnapshotManifest() throws(EngineError) {
        let number = newFileNumber()
        var snapshot = VersionEdit()
        snapshot.logNumber = logNumber
        snapshot.nextFileNumber = nextFileNumber
        snapshot.lastSequence = lastSequence
        for level in 0..<Version.levelCount where !compactionPointers[level].isEmpty {
            snapshot.compactionPointers.append((level, compactionPointers[level]))
        }
        for (level, list) in current.files.enumerated() {
            for f in list { snapshot.newFiles.append(.init(level: level, number: f.number, size: f.size, smallest: f.smallest, largest: f.largest)) }
        }
        do {
            let file = try fileSystem.open(path(FileNames.manifest(number)), mode: .truncate)
            let writer = LogWriter(file: file)
            try writer.append(snapshot.encoded())
            try writer.sync()
            let temporary = try fileSystem.open(path(FileNames.currentTemporary), mode: .truncate)
            try temporary.write(at: 0, Array((FileNames.manifest(number) + "\n").utf8))
            try temporary.sync()
            try temporary.close()
            try fileSystem.rename(path(FileNames.currentTemporary), to: path(FileNames.current))
            try fileSystem.syncDirectory(options.directory)
            try? manifest?.close()
            manifest = writer
            manifestNumber = number
        } catch {
            throw error.engineError
        }
    }

    /// Appends `edit` (with the counters filled in) to the manifest and syncs it, then
    /// returns the version it makes. The caller installs it with `install`. Only one thread
    /// calls this at a time; the counters it reads are passed in by the caller holding the lock.
    func logEdit(_ edit: inout VersionEdit, base: Version) throws(EngineError) -> Version {
        guard let manifest else { throw .io(path: path("MANIFEST"), operation: "append", errno: 9, message: "no manifest open") }
        guard !failed else { throw .io(path: manifest.file.path, operation: "append", errno: 5, message: "an earlier manifest write or sync failed") }
        do {
            try manifest.append(edit.encoded())
            try manifest.sync()
        } catch {
            // The edit may be in the file, in the writer's buffer, or neither: write nothing
            // more (`abandon` drops the buffer), and let the caller delete nothing.
            failed = true
            throw error.engineError
        }
        var builder = VersionBuilder(base: base)
        builder.apply(edit) { self.makeFile($0) }
        let version = builder.build()
        version.computeScore(options: options)
        return version
    }

    /// Makes `version` current (caller holds the state lock) and marks the tables it no
    /// longer lists obsolete: each is deleted once no reader holds a version listing it.
    func install(_ version: Version, edit: VersionEdit) {
        // A trivially moved table is deleted at one level and added at the next: still live.
        let removed = Set(edit.deletedFiles.map(\.number)).subtracting(edit.newFiles.map(\.number))
        for list in current.files {
            for f in list where removed.contains(f.number) { f.obsolete = true }
        }
        if let v = edit.logNumber { logNumber = v }
        for p in edit.compactionPointers { compactionPointers[p.level] = p.key }
        current = version
    }

    func close() {
        if failed { manifest?.abandon() } else { try? manifest?.close() }
        manifest = nil
    }

    /// Closes the manifest without writing what its writer still buffers (after a failure).
    func abandon() {
        manifest?.abandon()
        manifest = nil
    }

    /// Drops the current version (its files are not deleted unless obsolete).
    func releaseVersions() {
        current = Version(files: Array(repeating: [], count: Version.levelCount))
    }
}
