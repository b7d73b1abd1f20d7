// An in-memory file system that forgets what was not synced, tears the last write, and fails fsync.

import KVCore

/// A file system in memory that models what a power cut does to a real one, for crash tests.
///
/// Each file keeps two versions: what was written (visible to reads at once) and what was
/// durable at its last successful `sync()`. Each directory likewise keeps its entries as of its
/// last `syncDirectory`. `crash()` throws away everything not durable: files not yet made
/// durable in their directory disappear, renames not yet synced revert, and every file goes back
/// to its synced contents — optionally keeping a random prefix of the unsynced bytes appended
/// after them (a torn write). Handles opened before a crash fail with `closed` afterwards.
///
/// Faults on demand: `failSync(after:)` makes the n-th next `sync()` fail (the data stays not
/// durable), `failWrites(afterBytes:)` makes writes fail once that many more bytes were written
/// (a full disk). Thread-safe (one lock).
public final class FaultInjectingFileSystem: FileSystem, @unchecked Sendable {
    final class Node {
        var data: [UInt8] = []
        var durable: [UInt8] = []
    }

    private let lock = Lock()
    private var entries: [String: Node] = [:]
    private var durableEntries: [String: Node] = [:]
    private var directories: Set<String> = ["/", "."]
    private var generation = 0
    private var lockedDirectories: Set<String> = []
    private var syncsUntilFailure: Int? = nil
    private var writeBytesUntilFailure: Int? = nil

    /// Syncs that succeeded since creation (for tests choosing fault points).
    public private(set) var syncCount = 0
    /// Bytes written since creation.
    public private(set) var bytesWritten = 0

    public init() {}

    // MARK: - Faults

    /// The `n`-th `sync()` from now (1 = the next) fails, and every later one too until cleared.
    public func failSync(after n: Int?) {
        lock.withLock { syncsUntilFailure = n }
    }

    /// Writes fail once `bytes` more bytes have been written (nil: never).
    public func failWrites(afterBytes bytes: Int?) {
        lock.withLock { writeBytesUntilFailure = bytes }
    }

    /// Simulates a power cut: keeps only durable files and contents. With `tearingWith`, each
    /// file whose unsynced part extends its durable contents keeps a random prefix of that part.
    public func crash(tearingWith rng: UnsafeMutablePointer<SeededRandom>? = nil) {
        lock.withLock {
            generation += 1
            entries = durableEntries
            var seen = Set<ObjectIdentifier>()
            for node in entries.values where seen.insert(ObjectIdentifier(node)).inserted {
                var kept = node.durable
                if let rng, node.data.count > node.durable.count, node.data.starts(with: node.durable) {
                    let extra = node.data.count - node.durable.count
                    kept = Array(node.data.prefix(node.durable.count + Int(rng.pointee.next(below: UInt64(extra + 1)))))
                }
                node.data = kept
                node.durable = kept
            }
            syncsUntilFailure = nil
            writeBytesUntilFailure = nil
            // A power cut ends every process, and with them their locks.
            lockedDirectories.removeAll()
        }
    }

    /// The current contents of `path` (tests use it to corrupt bytes on purpose).
    public func contents(of path: String) -> [UInt8]? {
        lock.withLock { entries[path]?.data }
    }

    /// Replaces the contents of `path`, durably (tests: corrupt a byte, then reopen).
    public func setContents(of path: String, _ bytes: [UInt8]) {
        lock.withLock {
            guard let node = entries[path] else { return }
            node.data = bytes
            node.durable = bytes
        }
    }

    // MARK: - FileSystem

    public func open(_ path: String, mode: OpenMode) throws(StorageError) -> any StorageFile {
        try lock.withLock { () throws(StorageError) -> any StorageFile in
            let node: Node
            if let existing = entries[path] {
                node = existing
                if mode == .truncate { node.data = [] }
            } else {
                guard mode != .readOnly else { throw .notFound(path: path) }
                guard directories.contains(FilePath.directory(of: path)) else { throw .notFound(path: FilePath.directory(of: path)) }
                node = Node()
                entries[path] = node
            }
            return FaultInjectingFile(path: path, node: node, fileSystem: self, generation: generation, readOnly: mode == .readOnly)
        }
    }

    public func exists(_ path: String) -> Bool {
        lock.withLock { entries[path] != nil || directories.contains(path) }
    }

    public func remove(_ path: String) throws(StorageError) {
        try lock.withLock { () throws(StorageError) in
            guard entries.removeValue(forKey: path) != nil else { throw .notFound(path: path) }
        }
    }

    public func rename(_ source: String, to destination: String) throws(StorageError) {
        try lock.withLock { () throws(StorageError) in
            guard let node = entries.removeValue(forKey: source) else { throw .notFound(path: source) }
            entries[destination] = node
        }
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        try lock.withLock { () throws(StorageError) -> [String] in
            guard directories.contains(directory) else { throw .notFound(path: directory) }
            return entries.keys.filter { FilePath.directory(of: $0) == directory }.map { FilePath.name(of: $0) }.sorted()
        }
    }

    public func createDirectory(_ path: String) throws(StorageError) {
        lock.withLock {
            var p = path
            while !directories.contains(p) {
                directories.insert(p)
                p = FilePath.directory(of: p)
            }
        }
    }

    public func lockDirectory(_ directory: String) throws(StorageError) -> any DirectoryLock {
        try createDirectory(directory)
        return try lock.withLock { () throws(StorageError) -> any DirectoryLock in
            guard lockedDirectories.insert(directory).inserted else { throw .locked(path: FilePath.join(directory, "LOCK")) }
            return FaultInjectingDirectoryLock(directory: directory, fileSystem: self, generation: generation)
        }
    }

    fileprivate func unlock(_ directory: String, generation lockGeneration: Int) {
        lock.withLock {
            // A lock from before a crash was already dropped by it.
            if lockGeneration == generation { lockedDirectories.remove(directory) }
        }
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        lock.withLock {
            durableEntries = durableEntries.filter { FilePath.directory(of: $0.key) != path }
            for (name, node) in entries where FilePath.directory(of: name) == path {
                durableEntries[name] = node
            }
        }
    }

    // MARK: - File operations (called by FaultInjectingFile)

    fileprivate func perform<R>(_ file: FaultInjectingFile, _ operation: String,
                                _ body: (Node) throws(StorageError) -> R) throws(StorageError) -> R {
        try lock.withLock { () throws(StorageError) -> R in
            guard file.generation == generation, !file.isClosed else { throw .closed(path: file.path) }
            return try body(file.node)
        }
    }

    fileprivate func chargeWrite(_ count: Int, path: String) throws(StorageError) {
        if let remaining = writeBytesUntilFailure {
            if remaining < count { throw .injected(path: path, operation: "write") }
            writeBytesUntilFailure = remaining - count
        }
        bytesWritten += count
    }

    fileprivate func chargeSync(path: String) throws(StorageError) {
        if let n = syncsUntilFailure {
            if n <= 1 { syncsUntilFailure = 1; throw .injected(path: path, operation: "fdatasync") }
            syncsUntilFailure = n - 1
        }
        syncCount += 1
    }
}

final class FaultInjectingFile: StorageFile, @unchecked Sendable {
    let path: String
    let node: FaultInjectingFileSystem.Node
    unowned let fileSystem: FaultInjectingFileSystem
    let generation: Int
    let readOnly: Bool
    var isClosed = false

    init(path: String, node: FaultInjectingFileSystem.Node, fileSystem: FaultInjectingFileSystem, generation: Int, readOnly: Bool) {
        self.path = path
        self.node = node
        self.fileSystem = fileSystem
        self.generation = generation
        self.readOnly = readOnly
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError) -> Int {
        try fileSystem.perform(self, "read") { (node) throws(StorageError) -> Int in
            let start = Int(offset)
            guard start < node.data.count else { return 0 }
            let n = min(buffer.count, node.data.count - start)
            node.data.withUnsafeBytes { raw in
                buffer.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: n)
            }
            return n
        }
    }

    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        try fileSystem.perform(self, "write") { (node) throws(StorageError) in
            guard !readOnly else { throw .io(path: path, operation: "write", errno: 9) }
            try fileSystem.chargeWrite(bytes.count, path: path)
            let start = Int(offset)
            if node.data.count < start + bytes.count {
                node.data.append(contentsOf: repeatElement(0, count: start + bytes.count - node.data.count))
            }
            node.data.withUnsafeMutableBytes { raw in
                if bytes.count > 0 { (raw.baseAddress! + start).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            }
        }
    }

    func size() throws(StorageError) -> Int64 {
        try fileSystem.perform(self, "size") { node in Int64(node.data.count) }
    }

    func truncate(to size: Int64) throws(StorageError) {
        try fileSystem.perform(self, "truncate") { node in
            let n = Int(size)
            if node.data.count > n { node.data.removeLast(node.data.count - n) } else {
                node.data.append(contentsOf: repeatElement(0, count: n - node.data.count))
            }
        }
    }

    func sync() throws(StorageError) {
        try fileSystem.perform(self, "sync") { (node) throws(StorageError) in
            try fileSystem.chargeSync(path: path)
            node.durable = node.data
        }
    }

    func close() throws(StorageError) {
        isClosed = true
    }
}

final class FaultInjectingDirectoryLock: DirectoryLock, @unchecked Sendable {
    let directory: String
    let generation: Int
    private var fileSystem: FaultInjectingFileSystem?

    init(directory: String, fileSystem: FaultInjectingFileSystem, generation: Int) {
        self.directory = directory
        self.fileSystem = fileSystem
        self.generation = generation
    }

    deinit { unlock() }

    func unlock() {
        fileSystem?.unlock(directory, generation: generation)
        fileSystem = nil
    }
}
