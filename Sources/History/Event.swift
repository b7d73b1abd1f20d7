// One line of a history: a process invoking an operation, or learning how it ended.

/// An event of a concurrent history.
///
/// A process (one client, doing one thing at a time) *invokes* an operation and later learns
/// its outcome: `ok` (it took effect, with this result), `fail` (it certainly did not take
/// effect) or `info` (indeterminate: it may have taken effect, at any time after the
/// invocation, or never — a timeout, a crashed connection).
public struct Event: Hashable, Sendable {
    /// What kind of event this is.
    public enum Kind: String, Sendable, CaseIterable {
        case invoke, ok, fail, info
    }

    public var kind: Kind
    /// The client that issued the operation.
    public var process: Int
    /// The operation's function: `read`, `write`, `cas`, `append`, `delete`, `txn`,
    /// `acquire`, `release`, ... (history formats' synonyms are normalised: `get` is `read`,
    /// `put` is `write`).
    public var function: String
    /// The key the operation addresses, or nil for single-object histories (Knossos).
    public var key: Value?
    /// The invocation's argument, or the completion's result (a read's value, a cas's
    /// `[old new]`, a txn's micro-operations).
    public var value: Value
    /// When it happened, in nanoseconds on one monotonic clock, if the format records it.
    /// The checker orders events by their position in the history, not by this.
    public var time: Int64?
    /// The line of the input it came from (1-based), for messages; nil if built in code.
    public var line: Int?

    public init(_ kind: Kind, process: Int, function: String, key: Value? = nil, value: Value = .null,
                time: Int64? = nil, line: Int? = nil) {
        self.kind = kind
        self.process = process
        self.function = Event.normalizedFunction(function)
        self.key = key
        self.value = value
        self.time = time
        self.line = line
    }

    /// Maps format-specific spellings onto kvlab's names (`get` → `read`, `put` → `write`).
    public static func normalizedFunction(_ name: String) -> String {
        switch name {
        case "get": "read"
        case "put", "set", "update", "insert": "write"
        case "remove", "del": "delete"
        default: name
        }
    }
}
