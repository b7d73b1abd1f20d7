// Streaming RESP parsers: one for any value (clients), one for commands (servers, inline too).
//
// Both are stateless over the bytes they are given: they parse one frame from the start of the
// buffer and return how many bytes it took, or nil when the frame is not complete yet (the
// caller keeps the bytes and calls again when more arrive). Re-parsing an incomplete frame
// walks only its headers — bulk payloads are skipped by length — so a large frame arriving in
// many reads costs O(elements) per read, not O(bytes).

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

/// A decimal integer in `bytes[start..<end]` (optional sign), or nil.
@inline(__always)
func parseDecimal(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int64? {
    var i = start
    var negative = false
    if i < end && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
        negative = bytes[i] == UInt8(ascii: "-")
        i += 1
    }
    guard i < end, end - i <= 19 else { return nil }
    // Accumulated as a negative number: Int64.min (`:-9223372036854775808`, a reply INCRBY can
    // give) has no positive counterpart.
    var value: Int64 = 0
    while i < end {
        let d = bytes[i] &- UInt8(ascii: "0")
        guard d < 10 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.subtractingReportingOverflow(Int64(d))
        guard !o1 && !o2 else { return nil }
        value = a
        i += 1
    }
    if negative { return value }
    return value == .min ? nil : -value
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
    public func parseAll(_ bytes: [UInt8]) throws(RESPParseError) -> (values: [RESPValue], consumed: Int) {
        var values: [RESPValue] = []
        var offset = 0
        while offset < bytes.count {
            guard let (v, n) = try parse(Array(bytes[offset...]), baseOffset: offset) else { break }
            values.append(v)
            offset += n
        }
        return (values, offset)
    }

    /// One header/line: returns (start of content, CR index) or nil if incomplete.
    private func line(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ base: Int, maxLength: Int) throws(RESPParseError) -> Int? {
        if let cr = findCRLF(bytes, from: start) {
            if cr - start > maxLength { throw .headerTooLong(offset: base + start) }
            return cr
        }
        if bytes.count - start > maxLength + 2 { throw .headerTooLong(offset: base + start) }
        return nil
    }

    private func parseValue(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ base: Int, depth: Int) throws(RESPParseError) -> RESPValue? {
        guard depth <= limits.maxNesting else { throw .nestingTooDeep(limit: limits.maxNesting, offset: base + position) }
        guard position < bytes.count else { return nil }
        let typeOffset = position
        let type = bytes[position]
        let start = position + 1
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let cr = try line(bytes, start, base, maxLength: limits.maxBulkLength) else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<cr]), as: UTF8.self)
            position = cr + 2
            return type == UInt8(ascii: "+") ? .simpleString(text) : .error(text)
        case UInt8(ascii: ":"):
            guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
            guard let n = parseDecimal(bytes, start, cr) else { throw .invalidInteger(offset: base + start) }
            position = cr + 2
            return .integer(n)
        case UInt8(ascii: "("):
            guard let cr = try line(bytes, start, base, maxLength: 4096) else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<cr]), as: UTF8.self)
            guard !text.isEmpty, text.drop(while: { $0 == "-" || $0 == "+" }).allSatisfy(\.isNumber) else {
                throw .invalidValue(kind: "big number", offset: base + start)
            }
            position = cr + 2
            return .bigNumber(text)
        case UInt8(ascii: "_"):
            guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
            guard cr == start else { throw .invalidValue(kind: "null", offset: base + start) }
            position = cr + 2
            return .null
        case UInt8(ascii: "#"):
            guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
            guard cr == start + 1, bytes[start] == UInt8(ascii: "t") || bytes[start] == UInt8(ascii: "f") else {
                throw .invalidValue(kind: "boolean", offset: base + start)
            }
            position = cr + 2
            return .boolean(bytes[start] == UInt8(ascii: "t"))
        case UInt8(ascii: ","):
            guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<cr]), as: UTF8.self)
            let value: Double?
            switch text.lowercased() {
            case "inf", "+inf": value = .infinity
            case "-inf": value = -.infinity
            case "nan": value = .nan
            default: value = Double(text)
            }
            guard let value else { throw .invalidValue(kind: "double", offset: base + start) }
            position = cr + 2
            return .double(value)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
            guard let n = parseDecimal(bytes, start, cr), n >= -1 else { throw .invalidBulkLength(offset: base + start) }
            if n == -1 {
                guard type == UInt8(ascii: "$") else { throw .invalidBulkLength(offset: base + start) }
                position = cr + 2
                return .null
            }
            guard n <= limits.maxBulkLength else { throw .bulkTooLong(length: Int(n), limit: limits.maxBulkLength, offset: base + start) }
            let dataStart = cr + 2
            let dataEnd = dataStart + Int(n)
            guard dataEnd + 2 <= bytes.count else { return nil }
            guard bytes[dataEnd] == CR, bytes[dataEnd + 1] == LF else { throw .missingCRLF(offset: base + dataEnd) }
            position = dataEnd + 2
            let data = Array(UnsafeRawBufferPointer(rebasing: bytes[dataStart..<dataEnd]))
            switch type {
            case UInt8(ascii: "$"): return .bulkString(data)
            case UInt8(ascii: "!"): return .bulkError(String(decoding: data, as: UTF8.self))
            default:
                guard data.count >= 4, data[3] == UInt8(ascii: ":") else { throw .invalidValue(kind: "verbatim string", offset: base + dataStart) }
                return .verbatimString(format: String(decoding: data[0..<3], as: UTF8.self), text: Array(data[4...]))
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let cr = try line(bytes, start, base, maxLength: maxHeaderLineLength) else { return nil }
            guard let n = parseDecimal(bytes, start, cr), n >= -1 else { throw .invalidMultibulkLength(offset: base + start) }
            if n == -1 {
                guard type == UInt8(ascii: "*") else { throw .invalidMultibulkLength(offset: base + start) }
                position = cr + 2
                return .nullArray
            }
            let isPairs = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
            guard n <= limits.maxArrayLength, !isPairs || n <= limits.maxArrayLength / 2 else {
                throw .arrayTooLong(length: Int(n), limit: limits.maxArrayLength, offset: base + start)
            }
            var p = cr + 2
            let count = isPairs ? Int(n) * 2 : Int(n)
            // Each element takes at least 3 bytes: do not reserve more than the input can hold.
            var items: [RESPValue] = []
            items.reserveCapacity(min(count, (bytes.count - p) / 3 + 1))
            for _ in 0..<count {
                guard let item = try parseValue(bytes, &p, base, depth: depth + 1) else { return nil }
                items.append(item)
            }
            position = p
            switch type {
            case UInt8(ascii: "*"): return .array(items)
            case UInt8(ascii: "~"): return .set(items)
            case UInt8(ascii: ">"): return .push(items)
            case UInt8(ascii: "%"):
                return .map(stride(from: 0, to: items.count, by: 2).map { RESPPair(items[$0], items[$0 + 1]) })
            default:
                // An attribute annotates the value that follows; kvlab drops it.
                return try parseValue(bytes, &position, base, depth: depth)
            }
        default:
            throw .invalidTypeByte(found: type, offset: base + typeOffset)
        }
    }
}

// MARK: - Commands

/// A command's arguments, copied into one reusable buffer: parsing a command allocates nothing
/// once the buffer has grown to the connection's usual command size.
public struct RESPCommand: Sendable, Hashable {
    /// Every argument's bytes back to back.
    public private(set) var storage: [UInt8] = []
    /// Where each argument lies in `storage`.
    public private(set) var ranges: [Range<Int>] = []

    public init() {}

    /// A command from text arguments (tests, the client).
    public init(_ arguments: [String]) {
        for a in arguments { append(Array(a.utf8)) }
    }

    /// A command from byte arguments.
    public init(arguments: [[UInt8]]) {
        for a in arguments { append(a) }
    }

    /// Number of arguments, the command name included.
    @inlinable public var count: Int { ranges.count }
    @inlinable public var isEmpty: Bool { ranges.isEmpty }

    /// Removes every argument, keeping capacity.
    public mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
    }

    /// Appends an argument.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        let start = storage.count
        storage.append(contentsOf: bytes)
        ranges.append(start..<storage.count)
    }

    /// Appends an argument.
    public mutating func append(_ bytes: [UInt8]) {
        let start = storage.count
        storage.append(contentsOf: bytes)
        ranges.append(start..<storage.count)
    }

    /// Calls `body` with argument `index`'s bytes (valid only during the call).
    @inlinable
    public func withArgument<R, E: Error>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let range = ranges[index]
        let r: Result<R, E> = storage.withUnsafeBytes { raw in
            do throws(E) { return .success(try body(UnsafeRawBufferPointer(rebasing: raw[range]))) } catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Argument `index`, copied.
    public func argument(_ index: Int) -> [UInt8] { Array(storage[ranges[index]]) }

    /// Argument `index` as text (invalid UTF-8 is repaired).
    public func string(_ index: Int) -> String { String(decoding: storage[ranges[index]], as: UTF8.self) }

    /// Every argument, copied.
    public var arguments: [[UInt8]] { ranges.map { Array(storage[$0]) } }
}

/// Parses client commands: RESP arrays of bulk strings, or inline commands (a line of words,
/// as typed in a telnet session, with Redis's quoting rules).
public struct RESPCommandParser: Sendable {
    public var limits: RESPLimits
    /// Input ranges of the array being parsed (reused, so parsing does not allocate).
    private var pending: [Range<Int>] = []

    public init(limits: RESPLimits = .default) { self.limits = limits }

    /// Parses one command from the start of `bytes` into `command` (which is emptied first).
    ///
    /// An empty inline line or an array of zero elements is consumed and leaves `command`
    /// empty: the caller skips it, as Redis does.
    /// - Parameter baseOffset: the stream offset of `bytes[0]`, for error messages.
    /// - Returns: the bytes consumed, or nil if the command is incomplete.
    /// - Throws: `RESPParseError` with the stream offset of the first bad byte.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, into command: inout RESPCommand) throws(RESPParseError) -> Int? {
        guard !bytes.isEmpty else { return nil }
        if bytes[0] == UInt8(ascii: "*") {
            return try parseMultibulk(bytes, baseOffset, &command)
        }
        return try parseInline(bytes, baseOffset, &command)
    }

    /// `parse` over an array.
    public mutating func parse(_ bytes: [UInt8], baseOffset: Int = 0, into command: inout RESPCommand) throws(RESPParseError) -> Int? {
        var copy = self
        let r: Result<Int?, RESPParseError> = bytes.withUnsafeBytes { raw in
            do throws(RESPParseError) { return .success(try copy.parse(raw, baseOffset: baseOffset, into: &command)) } catch { return .failure(error) }
        }
        self = copy
        return try r.get()
    }

    private mutating func parseMultibulk(_ bytes: UnsafeRawBufferPointer, _ base: Int, _ command: inout RESPCommand) throws(RESPParseError) -> Int? {
        guard let cr = findCRLF(bytes, from: 1) else {
            if bytes.count > maxHeaderLineLength { throw .headerTooLong(offset: base + 1) }
            return nil
        }
        guard cr - 1 <= maxHeaderLineLength, let n = parseDecimal(bytes, 1, cr), n <= Int64(Int32.max) else {
            throw .invalidMultibulkLength(offset: base + 1)
        }
        if n <= 0 {
            command.removeAll()
            return cr + 2
        }
        guard n <= limits.maxArrayLength else { throw .arrayTooLong(length: Int(n), limit: limits.maxArrayLength, offset: base + 1) }
        pending.removeAll(keepingCapacity: true)
        var p = cr + 2
        for _ in 0..<Int(n) {
            guard p < bytes.count else { return nil }
            guard bytes[p] == UInt8(ascii: "$") else { throw .expectedBulkString(found: bytes[p], offset: base + p) }
            guard let lcr = findCRLF(bytes, from: p + 1) else {
                if bytes.count - p > maxHeaderLineLength { throw .headerTooLong(offset: base + p + 1) }
                return nil
            }
            guard lcr - p - 1 <= maxHeaderLineLength, let length = parseDecimal(bytes, p + 1, lcr), length >= 0 else {
                throw .invalidBulkLength(offset: base + p + 1)
            }
            guard length <= limits.maxBulkLength else {
                throw .bulkTooLong(length: Int(length), limit: limits.maxBulkLength, offset: base + p + 1)
            }
            let dataStart = lcr + 2
            let dataEnd = dataStart + Int(length)
            guard dataEnd + 2 <= bytes.count else { return nil }
            guard bytes[dataEnd] == CR, bytes[dataEnd + 1] == LF else { throw .missingCRLF(offset: base + dataEnd) }
            pending.append(dataStart..<dataEnd)
            p = dataEnd + 2
        }
        command.removeAll()
        for r in pending { command.append(UnsafeRawBufferPointer(rebasing: bytes[r])) }
        return p
    }

    private func parseInline(_ bytes: UnsafeRawBufferPointer, _ base: Int, _ command: inout RESPCommand) throws(RESPParseError) -> Int? {
        guard let lfPointer = memchr(bytes.baseAddress!, Int32(LF), bytes.count) else {
            if bytes.count > limits.maxInlineLength { throw .inlineTooLong(limit: limits.maxInlineLength, offset: base) }
            return nil
        }
        let lf = bytes.baseAddress!.distance(to: UnsafeRawPointer(lfPointer))
        if lf > limits.maxInlineLength { throw .inlineTooLong(limit: limits.maxInlineLength, offset: base) }
        var end = lf
        if end > 0 && bytes[end - 1] == CR { end -= 1 }
        command.removeAll()
        try Self.splitArguments(bytes, 0, end, base, into: &command)
        return lf + 1
    }

    @inline(__always) static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Redis's `sdssplitargs`: words separated by spaces; "double quotes" with C escapes
    /// (\n \r \t \b \a \xHH), 'single quotes' with \' only; a closing quote must be followed by
    /// a space or the end of the line.
    static func splitArguments(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ base: Int, into command: inout RESPCommand) throws(RESPParseError) {
        var p = start
        var word: [UInt8] = []
        while true {
            while p < end && isSpace(bytes[p]) { p += 1 }
            if p >= end { return }
            let wordStart = p
            var inDouble = false, inSingle = false, done = false
            word.removeAll(keepingCapacity: true)
            while !done {
                if inDouble {
                    guard p < end else { throw .unbalancedQuotes(offset: base + wordStart) }
                    let c = bytes[p]
                    if c == UInt8(ascii: "\\") && p + 3 < end && bytes[p + 1] == UInt8(ascii: "x"),
                       let h = hexValue(bytes[p + 2]), let l = hexValue(bytes[p + 3]) {
                        word.append(h << 4 | l)
                        p += 3
                    } else if c == UInt8(ascii: "\\") && p + 1 < end {
                        p += 1
                        switch bytes[p] {
                        case UInt8(ascii: "n"): word.append(LF)
                        case UInt8(ascii: "r"): word.append(CR)
                        case UInt8(ascii: "t"): word.append(9)
                        case UInt8(ascii: "b"): word.append(8)
                        case UInt8(ascii: "a"): word.append(7)
                        default: word.append(bytes[p])
                        }
                    } else if c == UInt8(ascii: "\"") {
                        if p + 1 < end && !isSpace(bytes[p + 1]) { throw .unbalancedQuotes(offset: base + p) }
                        done = true
                    } else {
                        word.append(c)
                    }
                } else if inSingle {
                    guard p < end else { throw .unbalancedQuotes(offset: base + wordStart) }
                    let c = bytes[p]
                    if c == UInt8(ascii: "\\") && p + 1 < end && bytes[p + 1] == UInt8(ascii: "'") {
                        p += 1
                        word.append(UInt8(ascii: "'"))
                    } else if c == UInt8(ascii: "'") {
                        if p + 1 < end && !isSpace(bytes[p + 1]) { throw .unbalancedQuotes(offset: base + p) }
                        done = true
                    } else {
                        word.append(c)
                    }
                } else {
                    if p >= end { break }
                    let c = bytes[p]
                    if isSpace(c) { done = true }
                    else if c == UInt8(ascii: "\"") { inDouble = true }
                    else if c == UInt8(ascii: "'") { inSingle = true }
                    else { word.append(c) }
                }
                if p < end { p += 1 }
            }
            word.withUnsafeBytes { command.append($0) }
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
    /// validating nested frames as `parse` does but allocating nothing.
    /// - Returns: the head and the bytes the value takes, or nil if incomplete.
    public func parseHead(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0) throws(RESPParseError) -> (head: RESPReplyHead, consumed: Int)? {
        var position = 0
        guard let head = try skip(bytes, &position, baseOffset, depth: 0) else { return nil }
        return (head, position)
    }

    private func skip(_ bytes: UnsafeRawBufferPointer, _ position: inout Int, _ base: Int, depth: Int) throws(RESPParseError) -> RESPReplyHead? {
        guard depth <= limits.maxNesting else { throw .nestingTooDeep(limit: limits.maxNesting, offset: base + position) }
        guard position < bytes.count else { return nil }
        let type = bytes[position]
        let start = position + 1
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "#"),
             UInt8(ascii: ","), UInt8(ascii: "("):
            guard let cr = findCRLF(bytes, from: start) else {
                if bytes.count - start > (type == UInt8(ascii: "+") || type == UInt8(ascii: "-") ? limits.maxBulkLength : 4096) {
                    throw .headerTooLong(offset: base + start)
                }
                return nil
            }
            var number: Int64 = 0
            if type == UInt8(ascii: ":") {
                guard let n = parseDecimal(bytes, start, cr) else { throw .invalidInteger(offset: base + start) }
                number = n
            }
            position = cr + 2
            return RESPReplyHead(type: type, number: number, payload: start..<cr, firstElementIsNull: false)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            guard let cr = findCRLF(bytes, from: start) else {
                if bytes.count - start > maxHeaderLineLength { throw .headerTooLong(offset: base + start) }
                return nil
            }
            guard let n = parseDecimal(bytes, start, cr), n >= -1 else { throw .invalidBulkLength(offset: base + start) }
            if n == -1 {
                position = cr + 2
                return RESPReplyHead(type: type, number: -1, payload: cr..<cr, firstElementIsNull: false)
            }
            guard n <= limits.maxBulkLength else { throw .bulkTooLong(length: Int(n), limit: limits.maxBulkLength, offset: base + start) }
            let dataStart = cr + 2, dataEnd = cr + 2 + Int(n)
            guard dataEnd + 2 <= bytes.count else { return nil }
            guard bytes[dataEnd] == CR, bytes[dataEnd + 1] == LF else { throw .missingCRLF(offset: base + dataEnd) }
            position = dataEnd + 2
            return RESPReplyHead(type: type, number: n, payload: dataStart..<dataEnd, firstElementIsNull: false)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            guard let cr = findCRLF(bytes, from: start) else {
                if bytes.count - start > maxHeaderLineLength { throw .headerTooLong(offset: base + start) }
                return nil
            }
            guard let n = parseDecimal(bytes, start, cr), n >= -1 else { throw .invalidMultibulkLength(offset: base + start) }
            var p = cr + 2
            if n == -1 {
                position = p
                return RESPReplyHead(type: type, number: -1, payload: p..<p, firstElementIsNull: false)
            }
            guard n <= limits.maxArrayLength else { throw .arrayTooLong(length: Int(n), limit: limits.maxArrayLength, offset: base + start) }
            let count = (type == UInt8(ascii: "%") || type == UInt8(ascii: "|")) ? Int(n) * 2 : Int(n)
            var firstNull = false
            for i in 0..<count {
                guard let element = try skip(bytes, &p, base, depth: depth + 1) else { return nil }
                if i == 0 { firstNull = element.isNull }
            }
            position = p
            if type == UInt8(ascii: "|") { return try skip(bytes, &position, base, depth: depth) }
            return RESPReplyHead(type: type, number: n, payload: (cr + 2)..<p, firstElementIsNull: firstNull)
        default:
            throw .invalidTypeByte(found: type, offset: base + position)
        }
    }
}
