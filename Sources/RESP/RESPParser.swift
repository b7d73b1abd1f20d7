// Streaming RESP parsers. This file: the shared line and integer rules, and the value parser a
// client reads replies with (`parse` builds values, `parseHead` only measures them; both apply
// the same checks). The command parser a server reads requests with is in RESPCommandParser.swift.
//
// The value parser is stateless over the bytes it is given: it parses one frame from the start
// of the buffer and returns how many bytes it took, or nil when the frame is not complete yet
// (the caller keeps the bytes and calls again when more arrive). Replies are parsed as they
// complete, so re-parsing an incomplete reply costs at most its headers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Header lines (`*N`, `$N`, `:N`) longer than this without CRLF are rejected.
let maxHeaderLineLength = 64

@usableFromInline let CR: UInt8 = 13
@usableFromInline let LF: UInt8 = 10

/// Index of the CR of the first CRLF at or after `from`, nil when no complete CRLF is present.
/// A CR not followed by LF is skipped (it belongs to the line, and the caller rejects it).
@inline(__always)
func findCRLF(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
    guard let base = bytes.baseAddress else { return nil }
    var i = from
    while i < bytes.count {
        guard let p = memchr(base + i, Int32(CR), bytes.count - i) else { return nil }
        let at = base.distance(to: UnsafeRawPointer(p))
        if at + 1 >= bytes.count { return nil }
        if bytes[at + 1] == LF { return at }
        i = at + 1
    }
    return nil
}

/// Redis's `string2ll` over `bytes[start..<end]`: an optional '-', then digits with no leading
/// zero (so `+5`, `007`, `-0`, ` 5` and the empty string are rejected), in Int64 range.
/// Redis and hiredis read every length and integer this way, so kvlab accepts what they accept.
@inline(__always)
func parseDecimal(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int64? {
    var i = start
    guard i < end else { return nil }
    let negative = bytes[i] == UInt8(ascii: "-")
    if negative { i += 1 }
    guard i < end, end - i <= 19 else { return nil }
    let first = bytes[i] &- UInt8(ascii: "0")
    guard first < 10 else { return nil }
    if first == 0 { return end - i == 1 && !negative ? 0 : nil }
    var magnitude: UInt64 = 0
    while i < end {
        let d = bytes[i] &- UInt8(ascii: "0")
        guard d < 10 else { return nil }
        magnitude = magnitude &* 10 &+ UInt64(d)  // 19 digits cannot overflow UInt64
        i += 1
    }
    if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
    }
    guard magnitude <= UInt64(Int64.max) else { return nil }
    return Int64(magnitude)
}

// MARK: - Values

/// Parses RESP2 and RESP3 values of any type, as a client reads replies.
public struct RESPValueParser: Sendable {
    public var limits: RESPLimits

    public init(limits: RESPLimits = .default) { self.limits = limits }

    /// Parses one value from the start of `bytes`.
    /// - Parameter baseOffset: the stream offset of `bytes[0]`, for error messages.
    /// - Returns: the value and the bytes it took, or nil if the frame is incomplete.
    /// - Throws: `RESPParseError` naming the stream offset of the first bad byte.
    public func parse(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0) throws(RESPParseError) -> (value: RESPValue, consumed: Int)? {
        var position = 0
        guard let value = try parseValue(bytes, &position, baseOffset, depth: 0) else { return nil }
        return (value, position)
    }

    /// `parse` over an array.
    public func parse(_ bytes: [UInt8], baseOffset: Int = 0) throws(RESPParseError) -> (value: RESPValue, consumed: Int)? {
        let r: Result<(value: RESPValue, consumed: Int)?, RESPParseError> = bytes.withUnsafeBytes { raw in
            do throws(RESPParseError) { return .success(try parse(raw, baseOffset: baseOffset)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Parses every complete value in `bytes` (a pipelined reply stream).
    /// - Returns: the values and the bytes they took (the rest is an incomplete value).
    public func parseAll(_ bytes: [UInt8]) throws(RESPParseError) -> (values: [RESPValue], consumed: Int) {
        let r: Result<(values: [RESPValue], consumed: Int), RESPParseError> = bytes.withUnsafeBytes { raw in
            var values: [RESPValue] = []
            var offset = 0
            do throws(RESPParseError) {
                while offset < raw.count, let (v, n) = try parse(UnsafeRawBufferPointer(rebasing: raw[offset...]), baseOffset: offset) {
                    values.append(v)
                    offset += n
                }
            } catch { return .failure(error) }
            return .success((values, offset))
        }
        return try r.get()
    }

    // MARK: Checks shared by `parse` and `parseHead`, so the two accept exactly the same input.

    /// The longest line a type may have before its CRLF.
    @inline(__always)
    func lineLimit(_ type: UInt8) -> Int {
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"): return limits.maxBulkLength
        case UInt8(ascii: "("): return 4096
        default: return maxHeaderLineLength
        }
    }

    /// One line from `start`: returns its CR index, or nil if incomplete.
    /// - Throws: `headerTooLong` when no CRLF comes within `maxLength`.
    @inline(__always)
    func line(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ base: Int, maxLength: Int) throws(RESPParseError) -> Int? {
        if let cr = findCRLF(bytes, from: start) {
            if cr - start > maxLength { throw .headerTooLong(offset: base + start) }
            return cr
        }
        if bytes.count - start > maxLength + 2 { throw .headerTooLong(offset: base + start) }
        return nil
    }

    /// Validates a one-line value (`: ( _ # ,`) in `bytes[start..<cr]`; returns the integer for `:`.
    func checkLine(_ type: UInt8, _ bytes: UnsafeRawBufferPointer, _ start: Int, _ cr: Int, _ base: Int) throws(RESPParseError) -> Int64 {
        switch type {
        case UInt8(ascii: ":"):
            guard let n = parseDecimal(bytes, start, cr) else { throw .invalidInteger(offset: base + start) }
            return n
        case UInt8(ascii: "("):
            // RESP3: an optional sign, then at least one digit.
            var i = start
            if i < cr && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) { i += 1 }
            guard i < cr else { throw .invalidValue(kind: "big number", offset: base + start) }
            while i < cr {
                guard bytes[i] &- UInt8(ascii: "0") < 10 else { throw .invalidValue(kind: "big number", offset: base + start) }
                i += 1
            }
        case UInt8(ascii: "_"):
            guard cr == start else { throw .invalidValue(kind: "null", offset: base + start) }
        case UInt8(ascii: "#"):
            guard cr == start + 1, bytes[start] == UInt8(ascii: "t") || bytes[start] == UInt8(ascii: "f") else {
                throw .invalidValue(kind: "boolean", offset: base + start)
            }
        case UInt8(ascii: ","):
            guard Self.double(bytes, start, cr) != nil else { throw .invalidValue(kind: "double", offset: base + start) }
        default:
            break
        }
        return 0
    }

    /// A RESP3 double: `inf`, `-inf`, `nan` or a decimal number.
    static func double(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ cr: Int) -> Double? {
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<cr]), as: UTF8.self)
        switch text.lowercased() {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default:
            // Digits, sign, point and exponent only: Swift's Double(String) also takes hex and "infinity".
            guard text.utf8.allSatisfy({ ($0 &- 48) < 10 || $0 == 43 || $0 == 45 || $0 == 46 || $0 == 101 || $0 == 69 }) else { return nil }
            return Double(text)
        }
    }

    /// A bulk header's length (`$ ! =`), -1 for a null (`$-1` only).
    func bulkLength(_ type: UInt8, _ bytes: UnsafeRawBufferPointer, _ start: Int, _ cr: Int, _ base: Int) throws(RESPParseError) -> Int64 {
        guard let n = parseDecimal(bytes, start, cr), n >= -1, n != -1 || type == UInt8(ascii: "$") else {
            throw .invalidBulkLength(offset: base + start)
        }
        guard n <= limits.maxBulkLength else { throw .bulkTooLong(length: Int(n), limit: limits.maxBulkLength, offset: base + start) }
        return n
    }

    /// A verbatim string's data must start with a three-character ASCII format and a colon.
    func checkVerbatim(_ bytes: UnsafeRawBufferPointer, _ dataStart: Int, _ dataEnd: Int, _ base: Int) throws(RESPParseError) {
        guard dataEnd - dataStart >= 4, bytes[dataStart + 3] == UInt8(ascii: ":"),
              bytes[dataStart] < 0x80, bytes[dataStart + 1] < 0x80, bytes[dataStart + 2] < 0x80 else {
            throw .invalidValue(kind: "verbatim string", offset: base + dataStart)
        }
    }

    /// An aggregate header's count (`* ~ > % |`), -1 for a null (`*-1` only); pairs for `%` and `|`.
    func aggregateCount(_ type: UInt8, _ bytes: UnsafeRawBufferPointer, _ start: Int, _ cr: Int, _ base: Int) throws(RESPParseError) -> Int64 {
        guard let n = parseDecimal(bytes, start, cr), n >= -1, n != -1 || type == UInt8(ascii: "*") else {
            throw .invalidMultibulkLength(offset: base + start)
        }
        let isPairs = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
        guard n <= limits.maxArrayLength, !isPairs || n <= limits.maxArrayLength / 2 else {
            throw .arrayTooLong(length: Int(n), limit: limits.maxArrayLength, offset: base + start)
        }
        return n
    }

    // MARK: Building values

    private func parseValue(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ base: Int, depth: Int) throws(RESPParseError) -> RESPValue? {
        guard depth <= limits.maxNesting else { throw .nestingTooDeep(limit: limits.maxNesting, offset: base + position) }
        // An attribute (`|`) annotates the value after it, which kvlab keeps: loop over a chain
        // of attributes rather than recursing, so a long chain cannot exhaust the stack.
        var p = position
        while true {
            guard p < bytes.count else { return nil }
            let typeOffset = p
            let type = bytes[p]
            let start = p + 1
            switch type {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "("), UInt8(ascii: "_"),
                 UInt8(ascii: "#"), UInt8(ascii: ","):
                guard let cr = try line(bytes, start, base, maxLength: lineLimit(type)) else { return nil }
                let n = try checkLine(type, bytes, start, cr, base)
                position = cr + 2
                let text: String
                switch type {
                case UInt8(ascii: ":"): return .integer(n)
                case UInt8(ascii: "_"): return .null
                case UInt8(ascii: "#"): return .boolean(bytes[start] == UInt8(ascii: "t"))
                case UInt8(ascii: ","): return .double(Self.double(bytes, start, cr)!)
                default: text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<cr]), as: UTF8.self)
                }
                switch type {
                case UInt8(ascii: "+"): return .simpleString(text)
                case UInt8(ascii: "-"): return .error(text)
                default: return .bigNumber(text)
                }
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
                let n = try bulkLength(type, bytes, start, cr, base)
                if n == -1 {
                    position = cr + 2
                    return .null
                }
                let dataStart = cr + 2
                let dataEnd = dataStart + Int(n)
                guard dataEnd + 2 <= bytes.count else { return nil }
                guard bytes[dataEnd] == CR, bytes[dataEnd + 1] == LF else { throw .missingCRLF(offset: base + dataEnd) }
                if type == UInt8(ascii: "=") { try checkVerbatim(bytes, dataStart, dataEnd, base) }
                position = dataEnd + 2
                let data = Array(UnsafeRawBufferPointer(rebasing: bytes[dataStart..<dataEnd]))
                switch type {
                case UInt8(ascii: "$"): return .bulkString(data)
                case UInt8(ascii: "!"): return .bulkError(String(decoding: data, as: UTF8.self))
                default: return .verbatimString(format: String(decoding: data[0..<3], as: UTF8.self), text: Array(data[4...]))
                }
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
                let n = try aggregateCount(type, bytes, start, cr, base)
                if n == -1 {
                    position = cr + 2
                    return .nullArray
                }
                let isPairs = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
                var q = cr + 2
                let count = isPairs ? Int(n) * 2 : Int(n)
                // Each element takes at least 3 bytes: do not reserve more than the input can hold.
                var items: [RESPValue] = []
                items.reserveCapacity(min(count, (bytes.count - q) / 3 + 1))
                for _ in 0..<count {
                    guard let item = try parseValue(bytes, &q, base, depth: depth + 1) else { return nil }
                    items.append(item)
                }
                if type == UInt8(ascii: "|") {
                    p = q  // the annotated value follows
                    continue
                }
                position = q
                switch type {
                case UInt8(ascii: "*"): return .array(items)
                case UInt8(ascii: "~"): return .set(items)
                case UInt8(ascii: ">"): return .push(items)
                default: return .map(stride(from: 0, to: items.count, by: 2).map { RESPPair(items[$0], items[$0 + 1]) })
                }
            default:
                throw .invalidTypeByte(found: type, offset: base + typeOffset)
            }
        }
    }
}

// MARK: - Reply heads (no allocation)

/// The outer shape of one reply, found without building a `RESPValue`: what a load generator
/// needs to judge a reply (OK, null, an error, a count) and, for strings, where the bytes are.
public struct RESPReplyHead: Sendable, Equatable {
    /// The type byte (`+`, `-`, `:`, `$`, `*`, `%`, `_`, ...).
    public var type: UInt8
    /// For `:` the integer; for `$ ! =` the length (-1 = null); for aggregates the element count (-1 = null).
    public var number: Int64
    /// Where a simple string's, error's or bulk string's bytes lie in the parsed buffer.
    public var payload: Range<Int>
    /// For aggregates: whether the first element is a null (HMGET of a missing field).
    public var firstElementIsNull: Bool

    public var isError: Bool { type == UInt8(ascii: "-") || type == UInt8(ascii: "!") }
    public var isNull: Bool { type == UInt8(ascii: "_") || number == -1 && (type == UInt8(ascii: "$") || type == UInt8(ascii: "*")) }
}

extension RESPValueParser {
    /// Finds the extent of one value at the start of `bytes` and describes its outer shape,
    /// validating nested frames exactly as `parse` does (it throws, and returns nil, for the
    /// same inputs) but allocating nothing.
    /// - Returns: the head and the bytes the value takes, or nil if incomplete.
    public func parseHead(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0) throws(RESPParseError) -> (head: RESPReplyHead, consumed: Int)? {
        var position = 0
        guard let head = try skip(bytes, &position, baseOffset, depth: 0) else { return nil }
        return (head, position)
    }

    private func skip(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ base: Int, depth: Int) throws(RESPParseError) -> RESPReplyHead? {
        guard depth <= limits.maxNesting else { throw .nestingTooDeep(limit: limits.maxNesting, offset: base + position) }
        var p = position
        while true {  // a loop over attribute chains, as in `parseValue`
            guard p < bytes.count else { return nil }
            let typeOffset = p
            let type = bytes[p]
            let start = p + 1
            switch type {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "#"),
                 UInt8(ascii: ","), UInt8(ascii: "("):
                guard let cr = try line(bytes, start, base, maxLength: lineLimit(type)) else { return nil }
                let number = try checkLine(type, bytes, start, cr, base)
                position = cr + 2
                return RESPReplyHead(type: type, number: number, payload: start..<cr, firstElementIsNull: false)
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
                let n = try bulkLength(type, bytes, start, cr, base)
                if n == -1 {
                    position = cr + 2
                    return RESPReplyHead(type: type, number: -1, payload: cr..<cr, firstElementIsNull: false)
                }
                let dataStart = cr + 2, dataEnd = cr + 2 + Int(n)
                guard dataEnd + 2 <= bytes.count else { return nil }
                guard bytes[dataEnd] == CR, bytes[dataEnd + 1] == LF else { throw .missingCRLF(offset: base + dataEnd) }
                if type == UInt8(ascii: "=") { try checkVerbatim(bytes, dataStart, dataEnd, base) }
                position = dataEnd + 2
                return RESPReplyHead(type: type, number: n, payload: dataStart..<dataEnd, firstElementIsNull: false)
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
                let n = try aggregateCount(type, bytes, start, cr, base)
                var q = cr + 2
                if n == -1 {
                    position = q
                    return RESPReplyHead(type: type, number: -1, payload: q..<q, firstElementIsNull: false)
                }
                let count = (type == UInt8(ascii: "%") || type == UInt8(ascii: "|")) ? Int(n) * 2 : Int(n)
                var firstNull = false
                for i in 0..<count {
                    guard let element = try skip(bytes, &q, base, depth: depth + 1) else { return nil }
                    if i == 0 { firstNull = element.isNull }
                }
                if type == UInt8(ascii: "|") {
                    p = q
                    continue
                }
                position = q
                return RESPReplyHead(type: type, number: n, payload: (cr + 2)..<q, firstElementIsNull: firstNull)
            default:
                throw .invalidTypeByte(found: type, offset: base + typeOffset)
            }
        }
    }
}
