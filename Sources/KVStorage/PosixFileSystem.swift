// The real file system, through swift-system's FileDescriptor and a few Glibc calls it lacks.

import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files on the local disk. `sync()` is `fdatasync`; `syncDirectory` fsyncs the directory.
public struct PosixFileSystem: FileSystem {
    public init() {}

    public func open(_ path: String, mode: OpenMode) throws(StorageError) -> any StorageFile {
        let access: FileDescriptor.AccessMode = mode == .readOnly ? .readOnly : .readWrite
        var options: FileDescriptor.OpenOptions = []
        switch mode {
        case .readOnly: break
        case .readWrite: options.insert(.create)
        case .truncate: options.formUnion([.create, .truncate])
        }
        do {
            let fd = try FileDescriptor.open(SystemPackage.FilePath(path), access, options: options,
                                             permissions: [.ownerReadWrite, .groupRead, .otherRead])
            return PosixFile(path: path, descriptor: fd)
        } catch let errno as Errno {
            if errno == .noSuchFileOrDirectory { throw .notFound(path: path) }
            throw .io(path: path, operation: "open", errno: errno.rawValue)
        } catch {
            throw .io(path: path, operation: "open", errno: EIO)
        }
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func remove(_ path: String) throws(StorageError) {
        if unlink(path) != 0 {
            if errno == ENOENT { throw .notFound(path: path) }
            throw .io(path: path, operation: "remove", errno: errno)
        }
    }

    public func rename(_ source: String, to destination: String) throws(StorageError) {
        if Glibc.rename(source, destination) != 0 {
            throw .io(path: source, operation: "rename to '\(destination)'", errno: errno)
        }
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        guard let dir = opendir(directory) else { throw .io(path: directory, operation: "list", errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                let bytes = raw.prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func createDirectory(_ path: String) throws(StorageError) {
        if exists(path) { return }
        let parent = FilePath.directory(of: path)
        if parent != path && parent != "." && parent != "/" && !exists(parent) { try createDirectory(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw .io(path: path, operation: "create directory", errno: errno)
        }
    }

    public func lockDirectory(_ directory: String) throws(StorageError) -> any DirectoryLock {
        try createDirectory(directory)
        let path = FilePath.join(directory, "LOCK")
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        // flock: held by the open file description, released when it is closed or the process dies.
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw .locked(path: path) }
            throw .io(path: path, operation: "lock", errno: code)
        }
        return PosixDirectoryLock(descriptor: fd)
    }

    public func syncDirectory(_ path: String) throws(StorageError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw .io(path: path, operation: "open directory", errno: errno) }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw .io(path: path, operation: "fsync directory", errno: errno) }
    }
}

/// A file on the local disk; positional reads and writes (pread/pwrite), so it is safe to share
/// between threads.
final class PosixFile: StorageFile, @unchecked Sendable {
    let path: String
    private let descriptor: FileDescriptor
    private var isClosed = false

    init(path: String, descriptor: FileDescriptor) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { if !isClosed { try? descriptor.close() } }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError) -> Int {
        do {
            return try descriptor.read(fromAbsoluteOffset: offset, into: buffer, retryOnInterrupt: true)
        } catch let errno as Errno {
            throw .io(path: path, operation: "read", errno: errno.rawValue)
        } catch {
            throw .io(path: path, operation: "read", errno: EIO)
        }
    }

    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        do {
            _ = try descriptor.writeAll(toAbsoluteOffset: offset, bytes)
        } catch let errno as Errno {
            throw .io(path: path, operation: "write", errno: errno.rawValue)
        } catch {
            throw .io(path: path, operation: "write", errno: EIO)
        }
    }

    func size() throws(StorageError) -> Int64 {
        var info = stat()
        guard fstat(descriptor.rawValue, &info) == 0 else { throw .io(path: path, operation: "stat", errno: errno) }
        return Int64(info.st_size)
    }

    func truncate(to size: Int64) throws(StorageError) {
        guard ftruncate(descriptor.rawValue, off_t(size)) == 0 else { throw .io(path: path, operation: "truncate", errno: errno) }
    }

    func sync() throws(StorageError) {
        guard fdatasync(descriptor.rawValue) == 0 else { throw .io(path: path, operation: "fdatasync", errno: errno) }
    }

    /// `mmap(PROT_READ, MAP_SHARED)` of the whole file; nil for an empty file.
    func mapReadOnly() throws(StorageError) -> MappedRegion? {
        let length = Int(try size())
        guard length > 0 else { return nil }
        guard let address = mmap(nil, length, PROT_READ, MAP_SHARED, descriptor.rawValue, 0), address != MAP_FAILED else {
            throw .io(path: path, operation: "mmap", errno: errno)
        }
        return MappedRegion(bytes: UnsafeRawBufferPointer(start: address, count: length)) { region in
            _ = munmap(UnsafeMutableRawPointer(mutating: region.baseAddress), region.count)
        }
    }

    func close() throws(StorageError) {
        guard !isClosed else { return }
        isClosed = true
        do { try descriptor.close() } catch { throw .io(path: path, operation: "close", errno: EIO) }
    }
}

/// A `flock` on a database's LOCK file.
final class PosixDirectoryLock: DirectoryLock, @unchecked Sendable {
    private var descriptor: Int32

    init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { unlock() }

    func unlock() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }
}
