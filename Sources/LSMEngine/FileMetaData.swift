// One live sorted table: its number, size and key range, its reader, and its deletion when unused.

import KVCore
import KVStorage
import Synchronization

/// Shared by every `FileMetaData` of one engine: where tables live and whether unused obsolete
/// tables may be deleted (not after the engine was abandoned in a crash test).
final class TableFiles: @unchecked Sendable {
    let fileSystem: any FileSystem
    let directory: String
    private let lock = Lock()
    private var deletionsEnabled = true

    init(fileSystem: any FileSystem, directory: String) {
        self.fileSystem = fileSystem
        self.directory = directory
    }

    func path(_ number: UInt64) -> String { FilePath.join(directory, FileNames.table(number)) }

    func disableDeletions() { lock.withLock { deletionsEnabled = false } }

    func deleteObsolete(_ number: UInt64) {
        lock.withLock {
            guard deletionsEnabled else { return }
            try? fileSystem.remove(path(number))
        }
    }
}

/// A table in a version. Versions share these objects; Swift's reference counting is the
/// version reference count: when the last version (current or held by a reader) that lists
/// a table is released, and the table was marked obsolete because a durable manifest edit
/// removed it, `deinit` deletes the file.
final class FileMetaData: @unchecked Sendable {
    let number: UInt64
    let size: Int64
    /// Smallest and largest internal keys in the table.
    let smallest: [UInt8]
    let largest: [UInt8]
    let files: TableFiles
    private let lock = Lock()
    /// Set once under `lock`, never cleared while the object lives; readers that see `isOpen`
    /// (acquire) read it without the lock (hence no exclusivity check: the one write happens
    /// before every unlocked read).
    @exclusivity(unchecked) private var opened: SortedTable?
    /// Published (release) after `opened` is set, so a get takes no lock once the table is open.
    private let isOpen = Atomic<Bool>(false)
    /// Set (under the engine's state lock) once a durable edit removed the table.
    var obsolete = false
    /// Gets that may still consult this table and then have to look further before it is
    /// compacted down (LevelDB's seek compaction: one such get costs about what compacting
    /// 16 KiB does, so a table earns `size / 16 KiB` of them, at least 100). Shared by every
    /// version listing the table; decremented without a lock by readers.
    let allowedSeeks: Atomic<Int>

    init(number: UInt64, size: Int64, smallest: [UInt8], largest: [UInt8], files: TableFiles) {
        self.number = number
        self.size = size
        self.smallest = smallest
        self.largest = largest
        self.files = files
        allowedSeeks = Atomic(max(100, Int(size / 16384)))
    }

    /// Charges one wasted consultation; true when this charge used up the allowance (and
    /// again every 64 charges after, in case the compaction it asked for was not picked).
    @inline(__always)
    func chargeSeek() -> Bool {
        let left = allowedSeeks.subtract(1, ordering: .relaxed).newValue
        return left <= 0 && left & 63 == 0
    }

    deinit {
        if obsolete {
            try? opened?.file.close()
            files.deleteObsolete(number)
        }
    }

    var path: String { files.path(number) }

    /// The table's reader, opened (and its footer, index and filter checked) on first use.
    @inline(__always)
    func table() throws(EngineError) -> SortedTable {
        if isOpen.load(ordering: .acquiring) { return opened.unsafelyUnwrapped }
        return try openTable()
    }

    private func openTable() throws(EngineError) -> SortedTable {
        try lock.withLock { () throws(EngineError) -> SortedTable in
            if let opened { return opened }
            let file: any StorageFile
            do throws(StorageError) { file = try files.fileSystem.open(path, mode: .readOnly) } catch { throw error.engineError }
            let table = try SortedTable(file: file, number: number)
            opened = table
            isOpen.store(true, ordering: .releasing)
            return table
        }
    }

}

/// The names of the files in an engine directory.
enum FileNames {
    static func table(_ number: UInt64) -> String { padded(number) + ".sst" }
    static func log(_ number: UInt64) -> String { padded(number) + ".log" }
    static func manifest(_ number: UInt64) -> String { "MANIFEST-" + padded(number) }
    static let current = "CURRENT"
    static let currentTemporary = "CURRENT.tmp"

    static func padded(_ number: UInt64) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    enum Kind: Equatable { case table(UInt64), log(UInt64), manifest(UInt64), current, temporary, other }

    static func parse(_ name: String) -> Kind {
        if name == current { return .current }
        if name.hasSuffix(".tmp") { return .temporary }
        if name.hasPrefix("MANIFEST-"), let n = UInt64(name.dropFirst(9)) { return .manifest(n) }
        if name.hasSuffix(".sst"), let n = UInt64(name.dropLast(4)) { return .table(n) }
        if name.hasSuffix(".log"), let n = UInt64(name.dropLast(4)) { return .log(n) }
        return .other
    }
}
