// Typed errors of the storage layer, each naming the file and, where known, the byte offset.

import KVCore

/// An error from a file or file system operation.
public enum StorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed.
    case io(path: String, operation: String, errno: Int32)
    /// The file does not exist.
    case notFound(path: String)
    /// The file already exists (exclusive create).
    case exists(path: String)
    /// Stored bytes failed a check at `offset`.
    case corruption(path: String, offset: Int64, detail: String)
    /// An injected fault (fault-injecting file system only).
    case injected(path: String, operation: String)
    /// The file was used after `close()`.
    case closed(path: String)
    /// Another process (or another engine in this one) holds the directory's lock file.
    case locked(path: String)

    public var description: String {
        switch self {
        case let .io(path, operation, errno):
            return "\(operation) '\(path)' failed: \(String(cString: strerror(errno))) (errno \(errno))"
        case let .notFound(path):
            return "'\(path)' does not exist"
        case let .exists(path):
            return "'\(path)' already exists"
        case let .corruption(path, offset, detail):
            return "corruption in '\(path)' at byte offset \(offset): \(detail)"
        case let .injected(path, operation):
            return "\(operation) '\(path)' failed: injected fault"
        case let .closed(path):
            return "'\(path)' is closed"
        case let .locked(path):
            return "'\(path)' is held by another engine: the database is in use (by another process, or already open in this one)"
        }
    }

    /// The same error as an `EngineError`, for engines to rethrow.
    public var engineError: EngineError {
        switch self {
        case let .io(path, operation, errno):
            return .io(path: path, operation: operation, errno: errno, message: String(cString: strerror(errno)))
        case let .notFound(path):
            return .io(path: path, operation: "open", errno: ENOENT, message: "does not exist")
        case let .exists(path):
            return .io(path: path, operation: "create", errno: EEXIST, message: "already exists")
        case let .corruption(path, offset, detail):
            return .corruption(file: path, offset: offset, detail: detail)
        case let .injected(path, operation):
            return .io(path: path, operation: operation, errno: EIO, message: "injected fault")
        case let .closed(path):
            return .io(path: path, operation: "use", errno: EBADF, message: "file is closed")
        case let .locked(path):
            return .io(path: path, operation: "lock", errno: EWOULDBLOCK,
                       message: "held by another engine: the database is in use (by another process, or already open in this one)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
