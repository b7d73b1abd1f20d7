// A FileSystem wrapper whose fault mode (none, failing fsync, full disk) is switched at run time, for a live server's disk faults.

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The disk fault a `SwitchableFaultFileSystem` injects now.
public enum DiskFaultMode: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Every operation passes through.
    case none = 0
    /// `StorageFile.sync()` and `syncDirectory` throw an I/O error (EIO), as a failing disk does.
    case fsyncFails = 1
    /// Writes, and truncations that grow a file, throw "no space left on device" (ENOSPC).
    case diskFull = 2

    /// The name used on the wire (`DEBUG DISKFAULT`) and in `INFO persistence`.
    public var description: String {
        switch self {
        case .none: return "none"
        case .fsyncFails: return "fsync-error"
        case .diskFull: return "disk-full"
        }
    }

    /// Parses a wire name (`none`, `fsync-error`, `disk-full`, case-insensitive); nil if unknown.
    public init?(name: String) {
        switch name.lowercased() {
        case "none": self = .none
        case "fsync-error": self = .fsyncFails
        case "disk-full": self = .diskFull
        default: return nil
        }
    }
}

/// The shared, thread-safe switch a `SwitchableFaultFileSystem` and all its open files read on
/// every operation, so a file opened before a switch obeys the new mode too.
public final class DiskFaultSwitch: Sendable {
    private let raw = Atomic<UInt8>(DiskFaultMode.none.rawValue)

    public init() {}

    /// The mode in force.
    public var mode: DiskFaultMode {
        get { DiskFaultMode(rawValue: raw.load(ordering: .acquiring)) ?? .none }
        set { raw.store(newValue.rawValue, ordering: .releasing) }
    }
}

/// Wraps any `FileSystem` (the POSIX one in practice) and injects the faults of `faults.mode`
/// as real errno-carrying I/O errors, so engines take their ordinary error paths.
public struct SwitchableFaultFileSystem: FileSystem {
    /// The wrapped file system.
    public let base: any FileSystem
    /// The switch; set `faults.mode` at any time from any thread.
    public let faults: DiskFaultSwitch

    public init(wrapping base: any FileSystem, faults: DiskFaultSwitch = DiskFaultSwitch()) {
        self.base = base
        self.faults = faults
    }

    public func open(_ path: String, mode: OpenMode) throws(StorageError) -> any StorageFile {
        // Creating or truncating a file needs no space; writes to it are what a full disk refuses.
        SwitchableFaultFile(base: try base.open(path, mode: mode), faults: faults)
    }

    public func exists(_ path: String) -> Bool { base.exists(path) }
    public func remove(_ path: String) throws(StorageError) { try base.remove(path) }
    public func rename(_ source: String, to destination: String) throws(StorageError) {
        try base.rename(source, to: destination)
    }
    public func list(_ directory: String) throws(StorageError) -> [String] { try base.list(directory) }
    public func createDirectory(_ path: String) throws(StorageError) {
        if faults.mode == .diskFull, !base.exists(path) {
            throw .io(path: path, operation: "mkdir", errno: ENOSPC)
        }
        try base.createDirectory(path)
    }
    public func syncDirectory(_ path: String) throws(StorageError) {
        if faults.mode == .fsyncFails { throw .io(path: path, operation: "fsync(directory)", errno: EIO) }
        try base.syncDirectory(path)
    }
    public func lockDirectory(_ directory: String) throws(StorageError) -> any DirectoryLock {
        try base.lockDirectory(directory)
    }
}

/// A file of a `SwitchableFaultFileSystem`: checks the switch before each write, growth and sync.
final class SwitchableFaultFile: StorageFile {
    let base: any StorageFile
    let faults: DiskFaultSwitch

    init(base: any StorageFile, faults: DiskFaultSwitch) {
        self.base = base
        self.faults = faults
    }

    var path: String { base.path }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError) -> Int {
        try base.read(at: offset, into: buffer)
    }

    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        if faults.mode == .diskFull, bytes.count > 0 { throw .io(path: path, operation: "write", errno: ENOSPC) }
        try base.write(at: offset, bytes)
    }

    func size() throws(StorageError) -> Int64 { try base.size() }

    func truncate(to size: Int64) throws(StorageError) {
        // Shrinking frees space and works on a full disk; growing needs blocks.
        if faults.mode == .diskFull, size > (try base.size()) {
            throw .io(path: path, operation: "ftruncate", errno: ENOSPC)
        }
        try base.truncate(to: size)
    }

    func sync() throws(StorageError) {
        if faults.mode == .fsyncFails { throw .io(path: path, operation: "fsync", errno: EIO) }
        try base.sync()
    }

    func close() throws(StorageError) { try base.close() }

    func mapReadOnly() throws(StorageError) -> MappedRegion? { try base.mapReadOnly() }
}
