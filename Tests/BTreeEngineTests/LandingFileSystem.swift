// A test file system over FaultInjectingFileSystem in which each unsynced write lands on the
// disk or not, independently, at a power cut; with hooks to fail or hold an fsync.

import Foundation
import KVCore
import KVStorage

/// `FaultInjectingFileSystem` reverts a file to its last fsync as a whole; a real disk may keep
/// any subset of the writes since (the meta page without the pages it points at, or the pages
/// without the meta). This wrapper records every write since each file's last successful fsync,
/// cut into `chunk`-byte pieces (one page each), and `crash(landing:)` keeps exactly the pieces
/// `landing` chooses, in write order, on top of the durable contents.
final class LandingFileSystem: FileSystem, @unchecked Sendable {
    struct Piece {
        var path: String
        var offset: Int
        var bytes: [UInt8]
    }

    let inner = FaultInjectingFileSystem()
    let chunk: Int
    private let lock = NSLock()
    private var unsynced: [String: [Piece]] = [:]
    private var lastWrite: [String: Piece] = [:]
    /// Called before each fsync with the file's last write since its previous fsync (nil:
    /// none); returning true fails the fsync (the writes stay unsynced).
    var failSync: (@Sendable (Piece?) -> Bool)?
    /// Called at the start of each fsync, outside the lock (a test may block in it).
    var beforeSync: (@Sendable () -> Void)?

    init(chunk: Int) { self.chunk = chunk }

    /// A power cut: every file goes back to its last fsync, then the unsynced pieces `landing`
    /// picks are written back in order.
    func crash(landing: (Piece) -> Bool) {
        let pieces = lock.withLock { () -> [String: [Piece]] in
            let p = unsynced
            unsynced = [:]
            lastWrite = [:]
            return p
        }
        inner.crash()
        for (path, list) in pieces {
            guard var bytes = inner.contents(of: path) else { continue }
            for piece in list where landing(piece) {
                if bytes.count < piece.offset + piece.bytes.count {
                    bytes.append(contentsOf: repeatElement(0, count: piece.offset + piece.bytes.count - bytes.count))
                }
                bytes.replaceSubrange(piece.offset..<(piece.offset + piece.bytes.count), with: piece.bytes)
            }
            inner.setContents(of: path, bytes)
        }
    }

    fileprivate func recordWrite(_ path: String, offset: Int, _ bytes: UnsafeRawBufferPointer) {
        lock.withLock {
            var start = 0
            while start < bytes.count {
                // Cut at chunk boundaries of the file, so a piece is (part of) one page.
                let end = min(bytes.count, start + chunk - (offset + start) % chunk)
                let piece = Piece(path: path, offset: offset + start, bytes: Array(bytes[start..<end]))
                unsynced[path, default: []].append(piece)
                lastWrite[path] = piece
                start = end
            }
        }
    }

    fileprivate func sync(_ file: any StorageFile) throws(StorageError) {
        beforeSync?()
        let last = lock.withLock { lastWrite[file.path] }
        if let failSync, failSync(last) { throw .injected(path: file.path, operation: "fdatasync") }
        try file.sync()
        lock.withLock {
            unsynced[file.path] = nil
            lastWrite[file.path] = nil
        }
    }

    // MARK: FileSystem

    func open(_ path: String, mode: OpenMode) throws(StorageError) -> any StorageFile {
        LandingFile(try inner.open(path, mode: mode), fileSystem: self)
    }
    func exists(_ path: String) -> Bool { inner.exists(path) }
    func remove(_ path: String) throws(StorageError) { try inner.remove(path) }
    func rename(_ source: String, to destination: String) throws(StorageError) {
        try inner.rename(source, to: destination)
        lock.withLock {
            if let pieces = unsynced.removeValue(forKey: source) {
                unsynced[destination] = pieces.map { Piece(path: destination, offset: $0.offset, bytes: $0.bytes) }
            }
        }
    }
    func list(_ directory: String) throws(StorageError) -> [String] { try inner.list(directory) }
    func createDirectory(_ path: String) throws(StorageError) { try inner.createDirectory(path) }
    func syncDirectory(_ path: String) throws(StorageError) { try inner.syncDirectory(path) }
    func lockDirectory(_ directory: String) throws(StorageError) -> any DirectoryLock { try inner.lockDirectory(directory) }
}

final class LandingFile: StorageFile, @unchecked Sendable {
    let file: any StorageFile
    unowned let fileSystem: LandingFileSystem
    var path: String { file.path }

    init(_ file: any StorageFile, fileSystem: LandingFileSystem) {
        self.file = file
        self.fileSystem = fileSystem
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError) -> Int {
        try file.read(at: offset, into: buffer)
    }
    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws(StorageError) {
        try file.write(at: offset, bytes)
        fileSystem.recordWrite(file.path, offset: Int(offset), bytes)
    }
    func size() throws(StorageError) -> Int64 { try file.size() }
    func truncate(to size: Int64) throws(StorageError) { try file.truncate(to: size) }
    func sync() throws(StorageError) { try fileSystem.sync(file) }
    func close() throws(StorageError) { try file.close() }
}
