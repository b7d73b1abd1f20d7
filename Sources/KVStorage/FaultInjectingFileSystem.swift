// An in-memory file system that models power loss (lost, torn or garbage unsynced writes),
// process crashes, and failing writes, fsyncs, directory fsyncs, renames and removes.

import KVCore

/// A file system in memory that models what a power cut, a process crash and a failing disk do
/// to a real one, for crash tests (LevelDB's fault-injection `Env`, SQLite's crash VFS).
///
/// Each file keeps what was written (visible to reads at once: the OS page cache), what was
/// durable at its last successful `sync()`, and the writes and truncations made since, in order.
/// Each directory likewise keeps its entries as of its last `syncDirectory`.
///
/// Crashes:
/// - `crash()` (power cut): files not durable in their directory disappear, unsynced renames
///   and removals revert, every file goes back to its durable contents;
/// - `crash(tearingWith:)`: the same, but each file keeps a random prefix of its unsynced writes
///   in order, the last kept one torn (a random prefix of its bytes) — appends and in-place
///   overwrites alike;
/// - `crash(independentWritesWith:)` (SQLite's crash VFS): each unsynced write independently
///   lands, vanishes, or lands as garbage bytes; each unsynced truncation lands or not. A write
///   that lands past a vanished one leaves a hole of zeros;
/// - `processCrash()`: the process dies, the machine does not: everything written stays (it is
///   in the OS), handles and directory locks die. Only what an engine never wrote is lost.
/// Handles opened before any crash fail with `closed` afterwards.
///
/// Faults: `inject(_:skip:times:where:)` fails chosen calls of `write`, `sync`, `syncDirectory`,
/// `rename` or `remove` (on matching paths, after `skip` successes, `times` times or forever);
/// `failSync(after:)` and `failWrites(afterBytes:)` are the older shorthands. A failed `sync()`
/// behaves as Linux does after writeback fails: the pages it should have written are marked
/// clean, so a later `sync()` that succeeds does not make them durable (they stay visible to
/// reads until a crash). Thread-safe (one lock).
public final class FaultInjectingFileSystem: FileSystem, @unchecked Sendable {
    /// One unsynced change to a file's contents.
    enum Change {
        case write(offset: Int, bytes: [UInt8])
        case truncate(size: Int)
    }

    final class Node {
        var data: [UInt8] = []
        var durable: [UInt8] = []
        /// Changes since the last sync (successful or failed), in order.
        var pending: [Change] = []

        func record(_ change: Change) { pending.append(change) }
    }

    /// An operation `inject` can make fail.
    public enum Operation: String, Sendable {
        case write
        case sync = "fdatasync"
        case syncDirectory = "fsync(directory)"
        case rename
        case remove
    }

    struct Rule {
        let operation: Operation
        let matches: @Sendable (String) -> Bool
        var skip: Int
        var remaining: Int?
    }

    private let lock = Lock()
    private var entries: [String: Node] = [:]
    private var durableEntries: [String: Node] = [:]
    private var directories: Set<String> = ["/", "."]
    private var generation = 0
    private var lockedDirectories: Set<String> = []
    private var syncsUntilFailure: Int? = nil
    private var writeBytesUntilFailure: Int? = nil
    private var rules: [Rule] = []
    private var gates: [(operation: Operation, matches: @Sendable (String) -> Bool, gate: FaultGate)] = []

    /// Syncs that succeeded since creation (for tests choosing fault points).
    public private(set) var syncCount = 0
    /// Bytes written since creation.
    public private(set) var bytesWritten = 0
    /// Faults injected so far (every failed call counts once).
    public private(set) var faultsInjected = 0

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

    /// Makes calls of `operation` fail with `StorageError.injected`: of the calls on a path for
    /// which `matches` is true (the file's path; the directory's for `syncDirectory`; the source
    /// for `rename`), the first `skip` succeed, then `times` fail (nil: every later one), then
    /// they succeed again. "An fsync that fails once and then succeeds" is `inject(.sync)`.
    public func inject(_ operation: Operation, skip: Int = 0, times: Int? = 1,
                       where matches: @escaping @Sendable (String) -> Bool = { _ in true }) {
        lock.withLock { rules.append(Rule(operation: operation, matches: matches, skip: skip, remaining: times)) }
    }

    /// Makes the next call of `operation` (`.sync`, `.syncDirectory` or `.write`) on a matching
    /// path wait, without holding any lock of the file system, until the returned gate opens: a
    /// slow disk, frozen at a chosen point, so a test can check what other threads can still do.
    public func block(_ operation: Operation, where matches: @escaping @Sendable (String) -> Bool = { _ in true }) -> FaultGate {
        let gate = FaultGate()
        lock.withLock { gates.append((operation, matches, gate)) }
        return gate
    }

    /// Waits at the first unused gate matching the call, if any (no lock held while waiting).
    fileprivate func pass(_ operation: Operation, path: String) {
        let gate = lock.withLock { () -> FaultGate? in
            guard let i = gates.firstIndex(where: { $0.operation == operation && $0.matches(path) }) else { return nil }
            return gates.remove(at: i).gate
        }
        gate?.wait()
    }

    /// Removes every injected fault (`inject`, `failSync`, `failWrites`, unused gates).
    public func clearFaults() {
        lock.withLock {
            gates.removeAll()
            rules.removeAll()
            syncsUntilFailure = nil
            writeBytesUntilFailure = nil
        }
    }

    /// Throws if a rule fails this call (lock held).
    private func check(_ operation: Operation, path: String) throws(StorageError) {
        for i in rules.indices where rules[i].operation == operation && rules[i].matches(path) {
            if rules[i].skip > 0 { rules[i].skip -= 1; continue }
            if let remaining = rules[i].remaining {
                guard remaining > 0 else { continue }
                rules[i].remaining = remaining - 1
            }
            faultsInjected += 1
            throw .injected(path: path, operation: operation.rawValue)
        }
    }

    // MARK: - Crashes

    /// Simulates a power cut: keeps only durable files and contents. With `tearingWith`, each
    /// file keeps a random prefix of its unsynced writes, the last one kept torn.
    public func crash(tearingWith rng: UnsafeMutablePointer<SeededRandom>? = nil) {
        powerCut { node in
            guard let rng else { return node.durable }
            var contents = node.durable
            let kept = Int(rng.pointee.next(below: UInt64(node.pending.count + 1)))
            for (i, change) in node.pending.enumerated() where i <= kept {
                if i < kept {
                    Self.apply(change, to: &contents)
                } else if case let .write(offset, bytes) = change {
                    // The write the power cut interrupted: a prefix of its bytes landed.
                    let torn = Int(rng.pointee.next(below: UInt64(bytes.count + 1)))
                    if torn > 0 { Self.apply(.write(offset: offset, bytes: Array(bytes.prefix(torn))), to: &contents) }
                }
            }
            return contents
        }
    }

    /// Simulates a power cut as SQLite's crash VFS does: each unsynced write independently
    /// lands, vanishes or lands as garbage (one chance in three each), in order; each unsynced
    /// truncation lands or vanishes. Files and renames not made durable in their directory revert.
    public func crash(independentWritesWith rng: inout SeededRandom) {
        var generator = rng
        powerCut { node in
            var contents = node.durable
            for change in node.pending {
                switch change {
                case let .write(offset, bytes):
                    switch generator.next(below: 3) {
                    case 0: Self.apply(change, to: &contents)
                    case 1: break
                    default:
                        let garbage = (0..<bytes.count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                        Self.apply(.write(offset: offset, bytes: garbage), to: &contents)
                    }
                case .truncate:
                    if generator.next(below: 2) == 0 { Self.apply(change, to: &contents) }
                }
            }
            return contents
        }
        rng = generator
    }

    /// Simulates the death of the process, not of the machine: every byte written stays (the OS
    /// has it), every file and rename stays; open handles and directory locks die with the process.
    public func processCrash() {
        lock.withLock {
            generation += 1
            lockedDirectories.removeAll()
        }
    }

    private func powerCut(_ survivor: (Node) -> [UInt8]) {
        lock.withLock {
            generation += 1
            entries = durableEntries
            var seen = Set<ObjectIdentifier>()
            for node in entries.values where seen.insert(ObjectIdentifier(node)).inserted {
                let kept = survivor(node)
                node.data = kept
                node.durable = kept
                node.pending = []
            }
            syncsUntilFailure = nil
            writeBytesUntilFailure = nil
            rules.removeAll()
            // A power cut ends every process, and with them their locks.
            lockedDirectories.removeAll()
        }
    }

    static func apply(_ change: Change, to contents: inout [UInt8]) {
        switch change {
        case let .write(offset, bytes):
            if contents.count < offset + bytes.count {
                contents.append(contentsOf: repeatElement(0, count: offset + bytes.count - contents.count))
            }
            contents.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        case let .truncate(size):
            if contents.count > size { contents.removeLast(contents.count - size) } else {
                contents.append(contentsOf: repeatElement(0, count: size - contents.count))
            }
        }
    }

    /// The current contents of `path` (tests use it to corrupt bytes on purpose).
    public func contents(of path: String) -> [UInt8]? {
        lock.withLock { entries[path]?.data }
    }

    /// What of `path` would survive a plain power cut now (its durable contents), or nil if the
    /// file itself would not (not durable in its directory).
    public func durableContents(of path: String) -> [UInt8]? {
        lock.withLock { durableEntries[path]?.durable }
    }

    /// Replaces the contents of `path`, durably (tests: corrupt a byte, then reopen).
    public func setContents(of path: String, _ bytes: [UInt8]) {
        lock.withLock {
            guard let node = entries[path] else { return }
            node.data = bytes
            node.durable = bytes
            node.pending = []
        }
    }

    // MARK: - FileSystem

    public func open(_ path: String, mode: OpenMode) throws(StorageError) -> any StorageFile {
        try lock.withLock { () throws(StorageError) -> any StorageFile in
            let node: Node
            if let existing = entries[path] {
                node = existing
                if mode == .truncate {
                    node.data = []
                    node.record(.truncate(size: 0))
                }
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
            guard entries[path] != nil else { throw .notFound(path: path) }
            try check(.remove, path: path)
            entries.removeValue(forKey: path)
        }
    }

    public func rename(_ source: String, to destination: String) throws(StorageError) {
        try lock.withLock { () throws(StorageError) in
            guard entries[source] != nil else { throw .notFound(path: source) }
            try check(.rename, path: source)
            entries[destination] = entries.removeValue(forKey: source)
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
        pass(.syncDirectory, path: path)
        try lock.withLock { () throws(StorageError) in
            try check(.syncDirectory, path: path)
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
        try check(.write, path: path)
        if let remaining = writeBytesUntilFailure {
            if remaining < count { faultsInjected += 1; throw .injected(path: path, operation: "write") }
            writeBytesUntilFailure = remaining - count
        }
        bytesWritten += count
    }

    fileprivate func chargeSync(path: String) throws(StorageError) {
        if let n = syncsUntilFailure {
            if n <= 1 { syncsUntilFailure = 1; faultsInjected += 1; throw .injected(path: path, operation: "fdatasync") }
            syncsUntilFailure = n - 1
        }
        try check(.sync, path: path)
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
        fileSystem.pass(.write, path: path)
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
            node.record(.write(offset: start, bytes: Array(bytes)))
        }
    }

    func size() throws(StorageError) -> Int64 {
        try fileSystem.perform(self, "size") { node in Int64(node.data.count) }
    }

    func truncate(to size: Int64) throws(StorageError) {
        try fileSystem.perform(self, "truncate") { node in
            let n = Int(size)
            FaultInjectingFileSystem.apply(.truncate(size: n), to: &node.data)
            node.record(.truncate(size: n))
        }
    }

    func sync() throws(StorageError) {
        fileSystem.pass(.sync, path: path)
        try fileSystem.perform(self, "sync") { (node) throws(StorageError) in
            do throws(StorageError) {
                try fileSystem.chargeSync(path: path)
            } catch {
                // Linux after failed writeback: the pages are marked clean, their data never
                // reaches the disk, and a later fsync has nothing to write (reports success).
                node.pending = []
                throw error
            }
            for change in node.pending { FaultInjectingFileSystem.apply(change, to: &node.durable) }
            node.pending = []
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

/// Where a blocked file operation waits (`FaultInjectingFileSystem.block`): `isWaiting` turns
/// true when a call arrives, `open()` lets it (and any later arrival) through.
public final class FaultGate: @unchecked Sendable {
    private let lock = Lock()
    private var opened = false
    private var arrived = false

    /// True once a call has reached the gate (and, until `open()`, waits there).
    public var isWaiting: Bool { lock.withLock { arrived && !opened } }
    /// True once a call has reached the gate, opened or not.
    public var wasReached: Bool { lock.withLock { arrived } }

    /// Lets the waiting call go on.
    public func open() { lock.withLock { opened = true } }

    fileprivate func wait() {
        lock.withLock { arrived = true }
        // Polling keeps the gate free of condition variables; tests open it within moments.
        while !lock.withLock({ opened }) { usleep(200) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
