// Typed protocol errors, each carrying the stream byte offset where the input went wrong.

/// Malformed or over-limit RESP input. `offset` counts bytes from the start of the stream
/// (the connection), so a log line names the exact byte a client got wrong.
public enum RESPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A frame started with a byte that is not a RESP type byte.
    case invalidTypeByte(found: UInt8, offset: Int)
    /// A command array element was not a bulk string (`expected '$', got 'X'`).
    case expectedBulkString(found: UInt8, offset: Int)
    /// A length or integer line was not a decimal integer in range, written as Redis writes one
    /// (`string2ll`: no `+`, no leading zeros, no `-0`).
    case invalidInteger(offset: Int)
    /// An array header with a negative (other than -1) or non-numeric count.
    case invalidMultibulkLength(offset: Int)
    /// A bulk header with a negative (other than -1) or non-numeric length.
    case invalidBulkLength(offset: Int)
    /// A bulk string longer than the limit (`proto-max-bulk-len`).
    case bulkTooLong(length: Int, limit: Int, offset: Int)
    /// An array with more elements than the limit.
    case arrayTooLong(length: Int, limit: Int, offset: Int)
    /// A header line (`*N` / `$N`) that did not end within a sane number of bytes.
    case headerTooLong(offset: Int)
    /// An inline command line longer than the limit (64 KiB, as Redis).
    case inlineTooLong(limit: Int, offset: Int)
    /// An inline command with an unterminated quote.
    case unbalancedQuotes(offset: Int)
    /// A bulk string's data was not followed by CRLF.
    case missingCRLF(offset: Int)
    /// A double (`,`) or boolean (`#`) with malformed text.
    case invalidValue(kind: String, offset: Int)
    /// Aggregates nested deeper than the limit.
    case nestingTooDeep(limit: Int, offset: Int)
    /// Unparsed input buffered for one client exceeded the query buffer limit.
    case queryBufferExceeded(size: Int, limit: Int)
    /// An array of more than 10 elements from a client that has not authenticated (Redis's limit).
    case unauthenticatedMultibulkLength(length: Int, offset: Int)
    /// A bulk string over 16 KB from a client that has not authenticated (Redis's limit).
    case unauthenticatedBulkLength(length: Int, offset: Int)

    /// Where in the stream the problem is.
    public var offset: Int {
        switch self {
        case let .invalidTypeByte(_, o), let .expectedBulkString(_, o), let .invalidInteger(o),
             let .invalidMultibulkLength(o), let .invalidBulkLength(o), let .bulkTooLong(_, _, o),
             let .arrayTooLong(_, _, o), let .headerTooLong(o), let .inlineTooLong(_, o),
             let .unbalancedQuotes(o), let .missingCRLF(o), let .invalidValue(_, o), let .nestingTooDeep(_, o),
             let .unauthenticatedMultibulkLength(_, o), let .unauthenticatedBulkLength(_, o):
            return o
        case let .queryBufferExceeded(size, _):
            return size
        }
    }

    /// The text Redis sends for the same fault (after `-ERR `), so clients see familiar errors.
    public var redisMessage: String {
        switch self {
        case .invalidTypeByte(let b, _), .expectedBulkString(let b, _):
            return "Protocol error: expected '$', got '\(Self.printable(b))'"
        case .invalidInteger, .invalidValue: return "Protocol error: invalid integer or value"
        case .invalidMultibulkLength, .arrayTooLong: return "Protocol error: invalid multibulk length"
        case .invalidBulkLength, .bulkTooLong: return "Protocol error: invalid bulk length"
        case .headerTooLong: return "Protocol error: too big mbulk count string"
        case .inlineTooLong: return "Protocol error: too big inline request"
        case .unbalancedQuotes: return "Protocol error: unbalanced quotes in request"
        case .missingCRLF: return "Protocol error: expected CRLF after bulk data"
        case .nestingTooDeep: return "Protocol error: nesting too deep"
        case .queryBufferExceeded: return "Protocol error: query buffer limit exceeded"
        case .unauthenticatedMultibulkLength: return "Protocol error: unauthenticated multibulk length"
        case .unauthenticatedBulkLength: return "Protocol error: unauthenticated bulk length"
        }
    }

    static func printable(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
    }

    public var description: String {
        switch self {
        case let .invalidTypeByte(b, o): return "RESP: invalid type byte '\(Self.printable(b))' at byte offset \(o); expected one of + - : $ * _ , # ( ! = % ~ > |"
        case let .expectedBulkString(b, o): return "RESP: expected '$' (a bulk string) at byte offset \(o), got '\(Self.printable(b))'"
        case let .invalidInteger(o): return "RESP: invalid integer at byte offset \(o); expected decimal digits then CRLF"
        case let .invalidMultibulkLength(o): return "RESP: invalid array length at byte offset \(o)"
        case let .invalidBulkLength(o): return "RESP: invalid bulk length at byte offset \(o)"
        case let .bulkTooLong(l, limit, o): return "RESP: bulk length \(l) at byte offset \(o) exceeds the limit of \(limit) bytes"
        case let .arrayTooLong(l, limit, o): return "RESP: array length \(l) at byte offset \(o) exceeds the limit of \(limit) elements"
        case let .headerTooLong(o): return "RESP: header line at byte offset \(o) has no CRLF within the allowed length"
        case let .inlineTooLong(limit, o): return "RESP: inline command at byte offset \(o) exceeds \(limit) bytes without a newline"
        case let .unbalancedQuotes(o): return "RESP: unbalanced quotes in the inline command at byte offset \(o)"
        case let .missingCRLF(o): return "RESP: expected CRLF at byte offset \(o) after bulk data"
        case let .invalidValue(k, o): return "RESP: invalid \(k) at byte offset \(o)"
        case let .nestingTooDeep(limit, o): return "RESP: aggregates nested deeper than \(limit) at byte offset \(o)"
        case let .queryBufferExceeded(size, limit): return "RESP: \(size) unparsed bytes exceed the query buffer limit of \(limit) bytes"
        case let .unauthenticatedMultibulkLength(l, o): return "RESP: array length \(l) at byte offset \(o) exceeds the limit of 10 elements before AUTH"
        case let .unauthenticatedBulkLength(l, o): return "RESP: bulk length \(l) at byte offset \(o) exceeds the limit of 16384 bytes before AUTH"
        }
    }
}

/// Parser limits, with Redis's defaults.
public struct RESPLimits: Sendable, Hashable {
    /// Largest bulk string (`proto-max-bulk-len`, 512 MB).
    public var maxBulkLength: Int
    /// Most elements in one array (Redis: INT_MAX for multibulk).
    public var maxArrayLength: Int
    /// Longest inline command line (`PROTO_INLINE_MAX_SIZE`, 64 KiB).
    public var maxInlineLength: Int
    /// Most unparsed bytes buffered per client (`client-query-buffer-limit`, 1 GB).
    public var maxQueryBuffer: Int
    /// Deepest aggregate nesting accepted by the value parser.
    public var maxNesting: Int

    public init(maxBulkLength: Int = 512 * 1024 * 1024, maxArrayLength: Int = Int(Int32.max),
                maxInlineLength: Int = 64 * 1024, maxQueryBuffer: Int = 1024 * 1024 * 1024, maxNesting: Int = 128) {
        self.maxBulkLength = maxBulkLength
        self.maxArrayLength = maxArrayLength
        self.maxInlineLength = maxInlineLength
        self.maxQueryBuffer = maxQueryBuffer
        self.maxNesting = maxNesting
    }

    public static let `default` = RESPLimits()
}
