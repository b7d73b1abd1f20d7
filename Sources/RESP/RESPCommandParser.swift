// The command parser a server reads requests with (RESP arrays of bulk strings, or inline
// lines), and the reusable command buffer it fills. Incremental: a frame that arrives over many
// reads is parsed once, as Redis's `processMultibulkBuffer` keeps `multibulklen`/`bulklen`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

    /// Reserves room for `bytes` argument bytes in `arguments` arguments (a large command is
    /// copied once, without regrowing).
    mutating func reserve(bytes: Int, arguments: Int) {
        storage.reserveCapacity(bytes)
        ranges.reserveCapacity(arguments)
    }

    /// The bytes this command holds on to (for shrinking a connection's buffers after a burst).
    public var capacityInBytes: Int { storage.capacity + ranges.capacity * MemoryLayout<Range<Int>>.stride }
}

/// Parses client commands: RESP arrays of bulk strings, or inline commands (a line of words,
/// as typed in a telnet session, with Redis's quoting rules).
///
/// The parser keeps its progress through an incomplete frame: the next call must pass the same
/// stream again — bytes starting at the same stream offset (`baseOffset`) as the incomplete
/// frame, extended by what arrived since — and parsing resumes at the first element not yet
/// complete, so a frame costs O(its bytes) however many reads it takes. A call with another
/// `baseOffset`, or with fewer bytes than before, starts afresh; `reset()` does so explicitly
/// (needed only to reuse one parser for unrelated inputs that start at the same offset).
public struct RESPCommandParser: Sendable {
    public var limits: RESPLimits
    /// True while the client has not authenticated and a password is required: Redis's tighter
    /// limits then apply (at most 10 elements per array and 16 KB per bulk string), so a client
    /// without the password cannot make the server allocate much.
    public var unauthenticated = false
    /// Input ranges of the array being parsed, relative to the frame's first byte (reused, so
    /// parsing does not allocate).
    private var pending: [Range<Int>] = []
    /// Stream offset of the incomplete frame whose progress is kept; -1 when none.
    private var frameStart = -1
    /// Elements the incomplete array announced (0 when none is in progress).
    private var frameElements = 0
    /// Where the next element of the incomplete array starts, relative to the frame.
    private var resumeAt = 0
    /// How far an incomplete inline line has been searched for its newline.
    private var inlineScanned = 0
    /// Bytes given in the last call that returned nil (a shorter input means a new stream).
    private var seenCount = 0
    /// Bytes the parser has read so far, over all calls: header lines and the CRLF after each
    /// bulk (bulk data is skipped by length and copied once). Tests use it to check that a
    /// frame arriving in many reads is not re-scanned from its start each time.
    public private(set) var examinedBytes = 0

    public init(limits: RESPLimits = .default) { self.limits = limits }

    /// Redis's limits before authentication (`processMultibulkBuffer`: 10 elements, 16 KB bulks).
    public static let unauthenticatedMaxElements = 10
    public static let unauthenticatedMaxBulkLength = 16384

    /// Forgets the progress through an incomplete frame.
    public mutating func reset() {
        frameStart = -1
        frameElements = 0
        resumeAt = 0
        inlineScanned = 0
        seenCount = 0
        pending.removeAll(keepingCapacity: true)
    }

    /// Parses one command from the start of `bytes` into `command` (which is emptied first).
    ///
    /// An empty inline line or an array of zero (or negative) elements is consumed and leaves
    /// `command` empty: the caller skips it, as Redis does.
    /// - Parameter baseOffset: the stream offset of `bytes[0]`, for error messages and for
    ///   recognizing the continuation of an incomplete frame.
    /// - Returns: the bytes consumed, or nil if the command is incomplete (keep the bytes and
    ///   call again, from the same start, when more arrive).
    /// - Throws: `RESPParseError` with the stream offset of the first bad byte.
    public mutating func parse(_ bytes: UnsafeRawBufferPointer, baseOffset: Int = 0, into command: inout RESPCommand) throws(RESPParseError) -> Int? {
        guard !bytes.isEmpty else { return nil }
        if frameStart != baseOffset || bytes.count < seenCount { reset() }
        do throws(RESPParseError) {
            let result = bytes[0] == UInt8(ascii: "*")
                ? try parseMultibulk(bytes, baseOffset, &command)
                : try parseInline(bytes, baseOffset, &command)
            if result == nil {
                frameStart = baseOffset
                seenCount = bytes.count
            } else {
                reset()
            }
            return result
        } catch {
            reset()
            throw error
        }
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
        var p: Int
        if frameElements > 0 {
            p = resumeAt
        } else {
            // A line too long to be a count is refused the same way whether or not its CRLF
            // has arrived (so how the input is split never changes the error).
            guard let cr = findCRLF(bytes, from: 1) else {
                examinedBytes += bytes.count
                if bytes.count > maxHeaderLineLength + 2 { throw .headerTooLong(offset: base + 1) }
                return nil
            }
            examinedBytes += cr + 2
            if cr - 1 > maxHeaderLineLength { throw .headerTooLong(offset: base + 1) }
            guard let n = parseDecimal(bytes, 1, cr), n <= Int64(Int32.max) else {
                throw .invalidMultibulkLength(offset: base + 1)
            }
            if unauthenticated && n > Int64(Self.unauthenticatedMaxElements) {
                throw .unauthenticatedMultibulkLength(length: Int(n), offset: base + 1)
            }
            if n <= 0 {
                command.removeAll()
                return cr + 2
            }
            guard n <= limits.maxArrayLength else { throw .arrayTooLong(length: Int(n), limit: limits.maxArrayLength, offset: base + 1) }
            pending.removeAll(keepingCapacity: true)
            frameElements = Int(n)
            p = cr + 2
            resumeAt = p
        }
        let maxBulk = unauthenticated ? min(limits.maxBulkLength, Self.unauthenticatedMaxBulkLength) : limits.maxBulkLength
        var payload = 0
        while pending.count < frameElements {
            guard p < bytes.count else { return nil }
            guard bytes[p] == UInt8(ascii: "$") else { throw .expectedBulkString(found: bytes[p], offset: base + p) }
            guard let lcr = findCRLF(bytes, from: p + 1) else {
                examinedBytes += bytes.count - p
                if bytes.count - p > maxHeaderLineLength + 2 { throw .headerTooLong(offset: base + p + 1) }
                return nil
            }
            examinedBytes += lcr + 2 - p
            if lcr - p - 1 > maxHeaderLineLength { throw .headerTooLong(offset: base + p + 1) }
            guard let length = parseDecimal(bytes, p + 1, lcr), length >= 0 else {
                throw .invalidBulkLength(offset: base + p + 1)
            }
            guard length <= limits.maxBulkLength else {
                throw .bulkTooLong(length: Int(length), limit: limits.maxBulkLength, offset: base + p + 1)
            }
            if length > maxBulk { throw .unauthenticatedBulkLength(length: Int(length), offset: base + p + 1) }
            let dataStart = lcr + 2
            let dataEnd = dataStart + Int(length)
            // Incomplete data: the next call re-reads only this element's header.
            guard dataEnd + 2 <= bytes.count else { return nil }
            examinedBytes += 2
            guard bytes[dataEnd] == CR, bytes[dataEnd + 1] == LF else { throw .missingCRLF(offset: base + dataEnd) }
            pending.append(dataStart..<dataEnd)
            payload += Int(length)
            p = dataEnd + 2
            resumeAt = p
        }
        command.removeAll()
        if frameElements > 64 { command.reserve(bytes: p, arguments: frameElements) }
        for r in pending { command.append(UnsafeRawBufferPointer(rebasing: bytes[r])) }
        return p
    }

    private mutating func parseInline(_ bytes: UnsafeRawBufferPointer, _ base: Int, _ command: inout RESPCommand) throws(RESPParseError) -> Int? {
        let from = min(inlineScanned, bytes.count)
        guard let lfPointer = memchr(bytes.baseAddress! + from, Int32(LF), bytes.count - from) else {
            examinedBytes += bytes.count - from
            inlineScanned = bytes.count
            if bytes.count > limits.maxInlineLength { throw .inlineTooLong(limit: limits.maxInlineLength, offset: base) }
            return nil
        }
        let lf = bytes.baseAddress!.distance(to: UnsafeRawPointer(lfPointer))
        examinedBytes += lf + 1 - from
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

