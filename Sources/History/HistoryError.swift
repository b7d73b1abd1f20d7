// Why a history could not be read: where in the input, and what was expected there.

/// A malformed history: the place (line and column, 1-based) and what was expected.
public struct HistoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input's name (a file path), if known.
    public var source: String?
    public var line: Int
    public var column: Int
    /// What the reader expected at this place.
    public var expected: String
    /// What it found instead (a short excerpt), if anything.
    public var found: String?

    public init(source: String? = nil, line: Int, column: Int, expected: String, found: String? = nil) {
        self.source = source
        self.line = line
        self.column = column
        self.expected = expected
        self.found = found
    }

    public var description: String {
        var text = "\(source ?? "<history>"):\(line):\(column): expected \(expected)"
        if let found { text += ", found \(found)" }
        return text
    }

    /// The same error, naming `source`.
    public func named(_ source: String) -> HistoryError {
        var copy = self
        copy.source = source
        return copy
    }
}
