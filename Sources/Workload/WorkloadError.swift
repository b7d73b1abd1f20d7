// Typed errors for workload files, property values and the operation stream.

/// Where a property value came from, so an error can point at it.
public enum PropertySource: Sendable, Hashable, CustomStringConvertible {
    /// A `-P` properties file, at a 1-based line.
    case file(path: String, line: Int)
    /// A `-p key=value` override.
    case commandLine
    /// A dedicated command-line flag such as `-threads`.
    case flag(String)
    /// Not set anywhere: the built-in default.
    case defaultValue

    /// How much a value from this source outranks others: files < `-p` < flags.
    var precedence: Int {
        switch self {
        case .defaultValue: 0
        case .file: 1
        case .commandLine: 2
        case .flag: 3
        }
    }

    public var description: String {
        switch self {
        case .file(let path, let line): "\(path):\(line)"
        case .commandLine: "command line -p"
        case .flag(let name): "flag \(name)"
        case .defaultValue: "default"
        }
    }
}

/// A wrong workload file, property value or run-time condition of the operation stream.
public enum WorkloadError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file could not be read.
    case unreadableFile(path: String, reason: String)
    /// A properties file breaks Java `.properties` syntax (e.g. a malformed `\uXXXX`).
    case syntax(path: String, line: Int, message: String)
    /// A `-p` argument without `=`.
    case malformedOverride(String)
    /// A property value that cannot be used.
    case badValue(property: String, value: String, source: PropertySource, expected: String)
    /// Values that are fine alone but not together (proportions summing to 0, ...).
    case inconsistent(String)
    /// A field-length histogram file with a bad line.
    case histogram(path: String, line: Int, message: String)
    /// A run-phase insert got so far ahead of the acknowledged ones that the window overflowed.
    case tooManyUnacknowledgedInserts(keyNumber: Int64, limit: Int64, window: Int64)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            "\(path): cannot read: \(reason)"
        case .syntax(let path, let line, let message):
            "\(path):\(line): \(message)"
        case .malformedOverride(let text):
            "command line -p: '\(text)': expected key=value"
        case .badValue(let property, let value, let source, let expected):
            "\(source): \(property)=\(value): expected \(expected)"
        case .inconsistent(let message):
            message
        case .histogram(let path, let line, let message):
            "\(path):\(line): \(message)"
        case .tooManyUnacknowledgedInserts(let keyNumber, let limit, let window):
            "too many unacknowledged inserts: key number \(keyNumber) is more than \(window) past the acknowledged limit \(limit)"
        }
    }
}
