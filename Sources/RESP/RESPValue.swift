// The RESP2/RESP3 value model: what a frame on the wire means, independent of its bytes.

/// One key-value pair of a RESP3 map or attribute.
public struct RESPPair: Hashable, Sendable {
    public var key: RESPValue
    public var value: RESPValue
    public init(_ key: RESPValue, _ value: RESPValue) { self.key = key; self.value = value }
}

/// A RESP value, as defined by the Redis serialization protocol (RESP2, plus RESP3's types).
///
/// RESP2's two nulls (`$-1` and `*-1`) are `.null` and `.nullArray`; RESP3's `_` is `.null`.
/// Attributes (`|`) are parsed and dropped: the parser returns the value they annotate.
public indirect enum RESPValue: Hashable, Sendable {
    /// `+OK` — a line of text without CR or LF.
    case simpleString(String)
    /// `-ERR message` — the first word is the error code by convention.
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$3\r\nfoo` — binary-safe bytes.
    case bulkString([UInt8])
    /// `$-1` (RESP2) or `_` (RESP3).
    case null
    /// `*-1` (RESP2 null array).
    case nullArray
    /// `*2\r\n...`
    case array([RESPValue])
    /// `,3.14` (RESP3).
    case double(Double)
    /// `#t` / `#f` (RESP3).
    case boolean(Bool)
    /// `(12345678901234567890` (RESP3), kept as its decimal text.
    case bigNumber(String)
    /// `!21\r\nSYNTAX invalid syntax` (RESP3).
    case bulkError(String)
    /// `=15\r\ntxt:Some string` (RESP3): a three-letter format and the text.
    case verbatimString(format: String, text: [UInt8])
    /// `%2\r\n...` (RESP3).
    case map([RESPPair])
    /// `~3\r\n...` (RESP3).
    case set([RESPValue])
    /// `>3\r\n...` (RESP3 out-of-band data).
    case push([RESPValue])

    /// A bulk string from UTF-8 text.
    public static func bulk(_ text: String) -> RESPValue { .bulkString(Array(text.utf8)) }

    /// A command as clients send it: an array of bulk strings.
    public static func command(_ words: [String]) -> RESPValue { .array(words.map { .bulk($0) }) }

    /// The value's text for string-like values (simple, bulk, verbatim, error), else nil.
    public var text: String? {
        switch self {
        case .simpleString(let s), .error(let s), .bulkError(let s), .bigNumber(let s): return s
        case .bulkString(let b): return String(decoding: b, as: UTF8.self)
        case .verbatimString(_, let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    /// The bytes of a bulk or verbatim string, else nil.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let b), .verbatimString(_, let b): return b
        case .simpleString(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// The elements of an array, set or push (a map's pairs flattened key, value, ...), else nil.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): return a
        case .map(let pairs): return pairs.flatMap { [$0.key, $0.value] }
        default: return nil
        }
    }

    /// True for `.error` and `.bulkError`.
    public var isError: Bool {
        switch self {
        case .error, .bulkError: return true
        default: return false
        }
    }

    /// True for `.null` and `.nullArray`.
    public var isNull: Bool { self == .null || self == .nullArray }
}

extension RESPValue: CustomStringConvertible {
    /// A compact, human-readable rendering for tests and messages.
    public var description: String {
        switch self {
        case .simpleString(let s): return "+\(s)"
        case .error(let s): return "-\(s)"
        case .integer(let i): return ":\(i)"
        case .bulkString(let b): return b.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) ? "\"\(String(decoding: b, as: UTF8.self))\"" : "<\(b.count) bytes>"
        case .null: return "(nil)"
        case .nullArray: return "(nil array)"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .double(let d): return ",\(d)"
        case .boolean(let b): return b ? "#t" : "#f"
        case .bigNumber(let s): return "(\(s)"
        case .bulkError(let s): return "!\(s)"
        case .verbatimString(let f, let t): return "=\(f):\(String(decoding: t, as: UTF8.self))"
        case .map(let p): return "{" + p.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .set(let a): return "~[" + a.map(\.description).joined(separator: ", ") + "]"
        case .push(let a): return ">[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }
}
