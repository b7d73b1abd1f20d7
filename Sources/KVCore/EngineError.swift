// Typed errors every engine throws, each carrying the context a user needs to act on it.

/// An error raised by a key-value engine or by the engine registry.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The engine does not implement `operation` (for example ordered scans on a hash table).
    case unsupported(engine: String, operation: String, reason: String)
    /// The engine was used after `close()`.
    case closed(engine: String)
    /// No engine is registered under `name`.
    case unknownEngine(name: String, available: [String])
    /// An engine option had a value the engine cannot use.
    case invalidOption(engine: String, option: String, value: String, expected: String)
    /// An option name the engine does not know.
    case unknownOption(engine: String, option: String, known: [String])
    /// A key or value exceeds what the engine can store.
    case tooLarge(what: String, size: Int, limit: Int)
    /// A file could not be read or written.
    case io(path: String, operation: String, errno: Int32, message: String)
    /// Stored data failed a check: `file` and `offset` say where, `detail` what was expected.
    case corruption(file: String, offset: Int64, detail: String)
    /// A write batch's encoding was malformed at `offset`.
    case malformedBatch(offset: Int, detail: String)

    public var description: String {
        switch self {
        case let .unsupported(engine, operation, reason):
            return "engine '\(engine)' does not support \(operation): \(reason)"
        case let .closed(engine):
            return "engine '\(engine)' is closed"
        case let .unknownEngine(name, available):
            return "unknown engine '\(name)'; available engines: \(available.joined(separator: ", "))"
        case let .invalidOption(engine, option, value, expected):
            return "engine '\(engine)': option '\(option)' has value '\(value)', expected \(expected)"
        case let .unknownOption(engine, option, known):
            let list = known.isEmpty ? "none" : known.joined(separator: ", ")
            return "engine '\(engine)': unknown option '\(option)'; known options: \(list)"
        case let .tooLarge(what, size, limit):
            return "\(what) of \(size) bytes exceeds the limit of \(limit) bytes"
        case let .io(path, operation, errno, message):
            return "\(operation) '\(path)' failed: \(message) (errno \(errno))"
        case let .corruption(file, offset, detail):
            return "corruption in '\(file)' at byte offset \(offset): \(detail)"
        case let .malformedBatch(offset, detail):
            return "malformed write batch at byte offset \(offset): \(detail)"
        }
    }
}
