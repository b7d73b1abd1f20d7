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
    /// A table gets keep consulting in vain (`FileMetaData.allowedSeeks` used up) and its
    /// level, to compact when no level's score asks for a compaction. Guarded by the engine's
    /// state lock.
    var seekCompaction: (level: Int, file: FileMetaData)?

    /// Per level (1 and up; level 0's entry is empty and unused): the files' key bounds as
    /// 8-byte prefixes after the bytes the level's keys share, in flat arrays, so a get's file
    /// search compares integers instead of following each `FileMetaData` to its key arrays.
    private let bounds: [LevelBounds]

    init(files: [[FileMetaData]]) {
        self.files = files
        bounds = files.indices.map { level in LevelBounds(level == 0 ? [] : files[level]) }
    }

    deinit {
        for b in bounds { b.deallocate() }
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

    /// Looks `userKey` up level by level, newest data first. The user key's bloom hash is
    /// computed once here for every table probed; `scratch` is where tables
    /// rebuild prefix-compressed keys. `probe` is told what the get does (`ReadProbe`).
    @inline(__always)
    ///
    /// As LevelDB does, when a get consults a second table, the first one it consulted is
    /// charged (`FileMetaData.chargeSeek`, unless `chargeSeeks` is false); when that uses up the table's allowance it is put
    /// in `seekDue` for the caller to ask for its compaction (`LSMEngine.requestSeekCompaction`).
    func get<P: ReadProbe>(_ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
                           cache: BlockCache, probe: inout P, chargeSeeks: Bool, seekDue: inout (level: Int, file: FileMetaData)?,
                           _ body: (UnsafeRawBufferPointer) -> Void) throws(EngineError) -> LookupResult {
        let hash = BloomFilter.hash(userKey)
        let level0 = files[0]
        probe.level0(tables: level0.count)
        // The first table consulted (level, index), charged if a second one is consulted.
        var firstLevel = -1, firstIndex = 0, consulted = 0
        @inline(__always) func consult(_ level: Int, _ index: Int) {
            consulted &+= 1
            if consulted == 1 { firstLevel = level; firstIndex = index } else if consulted == 2 && chargeSeeks {
                let first = files[firstLevel][firstIndex]
                if first.chargeSeek() { seekDue = (firstLevel, first) }
            }
        }
        var i = level0.count - 1
        while i >= 0 {
            let file = level0[i]
            if userKeyInRange(file, userKey) {
                consult(0, i)
                let r = try file.table().get(lookupKey, userKey: userKey, hash: hash, scratch: scratch, cache: cache,
                                             level: 0, probe: &probe, body)
                if r != .notFound { return r }
            }
            i -= 1
        }
        for level in 1..<Version.levelCount where !files[level].isEmpty {
            guard let index = fileIndex(level: level, lookupKey, userKey: userKey) else { continue }
            consult(level, index)
            let r = try files[level][index].table().get(lookupKey, userKey: userKey, hash: hash, scratch: scratch, cache: cache,
                                                        level: level, probe: &probe, body)
            if r != .notFound { return r }
        }
        return .notFound
    }

    /// The index of the file of sorted `level` (1 and up) whose range holds `userKey`
    /// (`lookupKey` is its internal key), or nil: the first file whose largest key is `>= lookupKey`, if its smallest
    /// user key is `<= userKey`. Integer compares on `bounds`; the keys themselves only on ties.
    @inline(__always)
    func fileIndex(level: Int, _ lookupKey: UnsafeRawBufferPointer, userKey: UnsafeRawBufferPointer) -> Int? {
        let b = bounds[level]
        let (order, p) = b.shared.place(userKey)
        guard order == 0 else { return nil }
        let list = files[level]
        let comparator = InternalKeyComparator()
        var low = 0, high = b.count
        while low < high {
            let mid = (low &+ high) >> 1
            let q = b.largest[mid]
            let below = q != p ? q < p : list[mid].largest.withUnsafeBytes { comparator.compare($0, lookupKey) < 0 }
            if below { low = mid &+ 1 } else { high = mid }
        }
        guard low < b.count else { return nil }
        // Its largest internal key is >= lookupKey, so its largest user key is >= userKey.
        let q = b.smallest[low]
        let above = q != p ? q > p : list[low].smallest.withUnsafeBytes { ByteOrder.compare(InternalKey.userKey($0), userKey) > 0 }
        return above ? nil : low
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

/// One sorted level's file bounds for `Version.fileIndex(level:_:userKey:)`: what the level's user
/// keys share (from its first file's smallest to its last file's largest key) and, per file,
/// the suffix prefixes of its smallest and largest user keys. Freed by the owning `Version`.
struct LevelBounds {
    let count: Int
    let shared: SharedKeyPrefix
    let smallest: UnsafeMutablePointer<UInt64>
    let largest: UnsafeMutablePointer<UInt64>

    init(_ files: [FileMetaData]) {
        count = files.count
        smallest = .allocate(capacity: max(count, 1))
        largest = .allocate(capacity: max(count, 1))
        guard let first = files.first, let last = files.last else {
            shared = SharedKeyPrefix(first: UnsafeRawBufferPointer(start: nil, count: 0), last: UnsafeRawBufferPointer(start: nil, count: 0))
            return
        }
        let run = first.smallest.withUnsafeBytes { a in
            last.largest.withUnsafeBytes { b in SharedKeyPrefix(first: InternalKey.userKey(a), last: InternalKey.userKey(b)) }
        }
        shared = run
        for (i, file) in files.enumerated() {
            (smallest + i).initialize(to: file.smallest.withUnsafeBytes { run.prefix(ofMember: InternalKey.userKey($0)) })
            (largest + i).initialize(to: file.largest.withUnsafeBytes { run.prefix(ofMember: InternalKey.userKey($0)) })
        }
    }

    func deallocate() {
        shared.deallocate()
        smallest.deallocate()
        largest.deallocate()
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
