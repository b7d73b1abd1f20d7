// One immutable view of the live tables, level by level; reads and compactions work on one.

import KVCore

/// The tables of every level at one point in time. Never modified after it is built; a new
/// edit makes a new version. Readers hold the version they started with (a strong reference),
/// which keeps its tables' files from being deleted until they finish.
///
/// Level 0 holds memtable flushes, which may overlap; they are kept oldest first (ascending file
/// number) and searched newest first. Levels 1 and up are sorted by key and do not overlap.
final class Version: @unchecked Sendable {
    static let levelCount = 7
    let files: [[FileMetaData]]
    /// The level most in need of compaction and its score (>= 1 means compact).
    private(set) var compactionLevel = 0
    private(set) var compactionScore = 0.0

    init(files: [[FileMetaData]]) {
        self.files = files
    }

    /// Computes the compaction score: L0 by file count, deeper levels by bytes against their budget.
    func computeScore(options: LSMOptions) {
        var bestLevel = 0
        var best = Double(files[0].count) / Double(options.level0CompactionTrigger)
        for level in 1..<(Version.levelCount - 1) {
            let bytes = files[level].reduce(Int64(0)) { $0 + $1.size }
            let score = Double(bytes) / Double(options.maxBytes(forLevel: level))
            if score > best { best = score; bestLevel = level }
        }
        compactionLevel = bestLevel
        compactionScore = best
    }

    /// The index of the first file in sorted, non-overlapping `files` whose largest key is
    /// `>= target` (files.count if none).
    static func findFile(_ files: [FileMetaData], _ target: UnsafeRawBufferPointer) -> Int {
        let comparator = InternalKeyComparator()
        var low = 0, high = files.count
        while low < high {
            let mid = (low + high) / 2
            let below = files[mid].largest.withUnsafeBytes { comparator.compare($0, target) < 0 }
            if below { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Looks `userKey` up level by level, newest data first. The user key's bloom hash and
    /// 8-byte prefix are computed once here for every table probed; `scratch` is where tables
    /// rebuild prefix-compressed keys.
    func get(_ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
             cache: BlockCache, _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> LookupResult {
        let hash = BloomFilter.hash(userKey)
        let prefix = TableIndex.prefix(ofUserKey: userKey)
        let level0 = files[0]
        var i = level0.count - 1
        while i >= 0 {
            let file = level0[i]
            if userKeyInRange(file, userKey) {
                let r = try file.table().get(lookupKey, userKey: userKey, hash: hash, prefix: prefix, scratch: scratch, cache: cache, body)
                if r != .notFound { return r }
            }
            i -= 1
        }
        for level in 1..<Version.levelCount where !files[level].isEmpty {
            let list = files[level]
            let index = Version.findFile(list, lookupKey)
            guard index < list.count else { continue }
            let file = list[index]
            guard userKeyInRange(file, userKey) else { continue }
            let r = try file.table().get(lookupKey, userKey: userKey, hash: hash, prefix: prefix, scratch: scratch, cache: cache, body)
            if r != .notFound { return r }
        }
        return .notFound
    }

    @inline(__always)
    private func userKeyInRange(_ file: FileMetaData, _ userKey: UnsafeRawBufferPointer) -> Bool {
        let aboveSmallest = file.smallest.withUnsafeBytes { ByteOrder.compare(InternalKey.userKey($0), userKey) <= 0 }
        guard aboveSmallest else { return false }
        return file.largest.withUnsafeBytes { ByteOrder.compare(InternalKey.userKey($0), userKey) >= 0 }
    }

    /// Files of `level` whose user-key range meets `[smallest, largest]` (user keys).
    func overlapping(level: Int, smallest: [UInt8], largest: [UInt8]) -> [FileMetaData] {
        files[level].filter { file in
            let fileSmall = file.smallest.withUnsafeBytes { Array(InternalKey.userKey($0)) }
            let fileLarge = file.largest.withUnsafeBytes { Array(InternalKey.userKey($0)) }
            return !(fileLarge.lexicographicallyPrecedes(smallest) || largest.lexicographicallyPrecedes(fileSmall))
        }
    }

    /// True if no level below `level` holds a table whose range contains `userKey`: a
    /// tombstone for it written at `level` hides nothing and can be dropped.
    func isBottomLevel(for userKey: UnsafeRawBufferPointer, below level: Int) -> Bool {
        for deeper in (level + 1)..<Version.levelCount where !files[deeper].isEmpty {
            for file in files[deeper] where userKeyInRange(file, userKey) { return false }
        }
        return true
    }
}

/// Applies edits to a version to make the next one.
struct VersionBuilder {
    var levels: [[FileMetaData]]

    init(base: Version) { levels = base.files }

    /// Applies `edit`; `make` turns an added file's description into its metadata.
    /// A table deleted at one level and added at another by the same edit (a trivial move)
    /// keeps its one `FileMetaData`: one object per file number, so the object's lifetime — and
    /// the file's deletion, in its `deinit` — covers every version listing the table. (Two
    /// objects let the newer one delete the file under a reader of an older version.)
    mutating func apply(_ edit: VersionEdit, make: (VersionEdit.NewFile) -> FileMetaData) {
        var removed: [UInt64: FileMetaData] = [:]
        for deleted in edit.deletedFiles {
            levels[deleted.level].removeAll { file in
                guard file.number == deleted.number else { return false }
                removed[file.number] = file
                return true
            }
        }
        for added in edit.newFiles {
            levels[added.level].removeAll { $0.number == added.number }
            levels[added.level].append(removed[added.number] ?? make(added))
        }
    }

    func build() -> Version {
        var sorted = levels
        sorted[0].sort { $0.number < $1.number }
        let comparator = InternalKeyComparator()
        for level in 1..<Version.levelCount {
            sorted[level].sort { a, b in
                a.smallest.withUnsafeBytes { x in b.smallest.withUnsafeBytes { y in comparator.compare(x, y) < 0 } }
            }
        }
        return Version(files: sorted)
    }
}
