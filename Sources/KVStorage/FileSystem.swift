// The one seam between engines and the disk: files and directories, swappable for a faulty one.

/// How to open a file.
public enum OpenMode: Sendable, Equatable {
    /// Existing file, reads only.
    case readOnly
    /// Existing file or a new empty one, reads and writes.
    case readWrite
    /// A new empty file; an existing one is truncated.
    case truncate
}

/// A random-access file. Writes are visible to reads at once and durable only after `sync()`.
public protocol StorageFile: AnyObject, Sendable {
    /// The path the file was opened with.
    var path: String { get }

    /// Reads up to `buffer.count` bytes at `offset`.
    /// - Returns: the bytes read; fewer than asked only at the end of the file.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError) -> Int

    /// Writes all of `bytes` at `offset`, extending the file if needed.
    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(StorageError)

    /// The file's size in bytes.
    func size() throws(StorageError) -> Int64

    /// Cuts (or extends with zeros) the file to `size` bytes.
    func truncate(to size: Int64) throws(StorageError)

    /// Makes every write so far durable (`fdatasync`).
    func sync() throws(StorageError)

    /// Releases the file. Later calls throw `StorageError.closed`.
    func close() throws(StorageError)

    /// The file's current bytes mapped read-only into memory, for files that no longer change
    /// (sorted tables), or nil where the file system does not map files (then use `read`).
    func mapReadOnly() throws(StorageError) -> MappedRegion?
}

extension StorageFile {
    /// Files that cannot be mapped say so; readers fall back to `read(at:into:)`.
    public func mapReadOnly() throws(StorageError) -> MappedRegion? { nil }
}

/// A read-only memory mapping of a whole file, unmapped when released. Whoever reads through
/// `bytes` keeps a strong reference to the region.
public final class MappedRegion: @unchecked Sendable {
    /// The mapped bytes.
    public let bytes: UnsafeRawBufferPointer
    private let unmap: @Sendable (UnsafeRawBufferPointer) -> Void

    public init(bytes: UnsafeRawBufferPointer, unmap: @escaping @Sendable (UnsafeRawBufferPointer) -> Void) {
        self.bytes = bytes
        self.unmap = unmap
    }

    deinit { unmap(bytes) }
}

/// Files and directories. Engines reach the disk only through this protocol, so tests can
/// substitute `FaultInjectingFileSystem` (LevelDB's `Env` seam).
public protocol FileSystem: Sendable {
    /// Opens `path` in `mode`.
    func open(_ path: String, mode: OpenMode) throws(StorageError) -> any StorageFile
    /// Whether `path` names an existing file or directory.
    func exists(_ path: String) -> Bool
    /// Removes the file `path`.
    func remove(_ path: String) throws(StorageError)
    /// Renames `source` to `destination`, replacing it atomically.
    func rename(_ source: String, to destination: String) throws(StorageError)
    /// The names (not paths) of the entries of `directory`, sorted.
    func list(_ directory: String) throws(StorageError) -> [String]
    /// Creates `path` and any missing parents.
    func createDirectory(_ path: String) throws(StorageError)
    /// Makes the creations, removals and renames in `directory` durable.
    func syncDirectory(_ path: String) throws(StorageError)
    /// Takes the exclusive lock of the database in `directory` (its `LOCK` file), so a second
    /// engine — in another process or this one — cannot open the same files. The lock goes
    /// with the process: a killed process holds it no more.
    /// - Throws: `StorageError.locked` if someone holds it.
    func lockDirectory(_ directory: String) throws(StorageError) -> any DirectoryLock
}

/// A held database lock; `unlock()` releases it (closing the engine does).
public protocol DirectoryLock: AnyObject, Sendable {
    func unlock()
}

extension StorageFile {
    /// Reads exactly `count` bytes at `offset`.
    /// - Throws: `StorageError.corruption` if the file ends first.
    public func readExactly(at offset: Int64, count: Int) throws(StorageError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var failure: StorageError?
        let n = bytes.withUnsafeMutableBytes { buffer -> Int in
            var done = 0
            while done < count {
                do throws(StorageError) {
                    let got = try read(at: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
                    if got == 0 { break }
                    done += got
                } catch {
                    failure = error
                    break
                }
            }
            return done
        }
        if let failure { throw failure }
        guard n == count else {
            throw .corruption(path: path, offset: offset + Int64(n), detail: "file ends after \(n) of \(count) bytes expected at offset \(offset)")
        }
        return bytes
    }

    /// Writes `bytes` at `offset`.
    public func write(at offset: Int64, _ bytes: [UInt8]) throws(StorageError) {
        let result: Result<Void, StorageError> = bytes.withUnsafeBytes { raw in
            do throws(StorageError) { try write(at: offset, raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }
}

/// Path helpers (no Foundation).
public enum FilePath {
    /// `directory/name`.
    public static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The directory part of `path` ("." if none).
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The last component of `path`.
    public static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}
