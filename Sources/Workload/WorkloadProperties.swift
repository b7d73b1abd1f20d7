// The effective property set of a run: -P files in order, then -p overrides, then flags.

/// A property value and where it came from.
public struct PropertyValue: Sendable, Equatable {
    public var value: String
    public var source: PropertySource

    public init(value: String, source: PropertySource) {
        self.value = value
        self.source = source
    }
}

/// Properties merged as YCSB's client merges them.
///
/// A later `-P` file wins over an earlier one; any `-p key=value` wins over every file; a
/// dedicated flag (`-threads`, `-target`, ...) wins over `-p`. Precedence is by source, so the
/// order of calls between kinds does not matter; within a kind the later call wins.
public struct WorkloadProperties: Sendable {
    private var values: [String: PropertyValue] = [:]
    private var order: [String] = []
    /// The `-P` files loaded, in order.
    public private(set) var files: [String] = []

    public init() {}

    /// Properties from a dictionary, as if given with `-p` (convenient in tests).
    public init(_ overrides: [String: String]) {
        for (key, value) in overrides.sorted(by: { $0.key < $1.key }) {
            set(key, value, source: .commandLine)
        }
    }

    /// Loads a `-P` file.
    /// - Throws: `WorkloadError.unreadableFile` or `.syntax`.
    public mutating func load(file path: String) throws(WorkloadError) {
        add(try PropertiesFile.load(path: path))
    }

    /// Adds an already parsed `-P` file.
    public mutating func add(_ file: PropertiesFile) {
        files.append(file.path)
        for entry in file.entries {
            set(entry.key, entry.value, source: .file(path: file.path, line: entry.line))
        }
    }

    /// Applies one `-p key=value` argument (split at the first `=`).
    /// - Throws: `WorkloadError.malformedOverride` when there is no `=` or the key is empty.
    public mutating func applyOverride(_ argument: String) throws(WorkloadError) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
            throw .malformedOverride(argument)
        }
        set(String(argument[..<equals]), String(argument[argument.index(after: equals)...]), source: .commandLine)
    }

    /// Applies a dedicated flag, e.g. `applyFlag("-threads", property: "threadcount", value: "4")`.
    public mutating func applyFlag(_ flag: String, property: String, value: String) {
        set(property, value, source: .flag(flag))
    }

    /// Sets `key` unless a value of higher precedence is already there.
    public mutating func set(_ key: String, _ value: String, source: PropertySource) {
        if let existing = values[key] {
            guard source.precedence >= existing.source.precedence else { return }
        } else {
            order.append(key)
        }
        values[key] = PropertyValue(value: value, source: source)
    }

    /// The value of `key` and its source, if set anywhere.
    public subscript(key: String) -> PropertyValue? { values[key] }

    /// Every set property, in the order first seen.
    public var all: [(key: String, value: PropertyValue)] {
        order.map { ($0, values[$0]!) }
    }

    /// The directory of the last `-P` file, used to resolve relative paths set outside files.
    var lastFileDirectory: String? { files.last.flatMap(FileText.directory(of:)) }
}
