// A byte cursor over UTF-8 text that knows its line and column, shared by the readers.

struct TextScanner {
    let bytes: [UInt8]
    var offset: Int
    var line: Int
    var lineStart: Int

    init(_ text: String, line: Int = 1) {
        bytes = Array(text.utf8)
        offset = 0
        self.line = line
        lineStart = 0
    }

    init(bytes: [UInt8], offset: Int = 0, line: Int = 1, lineStart: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.line = line
        self.lineStart = lineStart
    }

    var column: Int { offset - lineStart + 1 }
    var atEnd: Bool { offset >= bytes.count }
    var peek: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    mutating func advance() {
        if bytes[offset] == UInt8(ascii: "\n") {
            line += 1
            lineStart = offset + 1
        }
        offset += 1
    }

    func error(_ expected: String, found: String? = nil) -> HistoryError {
        HistoryError(line: line, column: column, expected: expected, found: found ?? excerpt())
    }

    /// A short excerpt of the input at the cursor, for messages.
    func excerpt() -> String {
        guard offset < bytes.count else { return "end of input" }
        var end = offset
        while end < bytes.count && end - offset < 20 && bytes[end] != UInt8(ascii: "\n") { end += 1 }
        return "'" + String(decoding: bytes[offset..<end], as: UTF8.self) + "'"
    }

    /// Reads a double-quoted string with backslash escapes (the cursor is on the quote).
    mutating func quotedString() throws(HistoryError) -> String {
        let startLine = line, startColumn = column
        advance()
        var out: [UInt8] = []
        while true {
            guard let c = peek else {
                throw HistoryError(line: startLine, column: startColumn, expected: "a closing '\"' for the string opened here",
                                   found: "end of input")
            }
            advance()
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") {
                guard let e = peek else { throw error("an escaped character after '\\'") }
                advance()
                switch e {
                case UInt8(ascii: "n"): out.append(10)
                case UInt8(ascii: "t"): out.append(9)
                case UInt8(ascii: "r"): out.append(13)
                case UInt8(ascii: "b"): out.append(8)
                case UInt8(ascii: "f"): out.append(12)
                case UInt8(ascii: "u"):
                    var scalar: UInt32 = 0
                    for _ in 0..<4 {
                        guard let h = peek, let digit = hexDigit(h) else { throw error("four hex digits after '\\u'") }
                        scalar = scalar * 16 + UInt32(digit)
                        advance()
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
                default: out.append(e)
                }
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads an integer or decimal number; nil if the cursor is not on one.
    mutating func number() throws(HistoryError) -> Value? {
        let start = offset
        var probe = offset
        if probe < bytes.count && (bytes[probe] == UInt8(ascii: "-") || bytes[probe] == UInt8(ascii: "+")) { probe += 1 }
        guard probe < bytes.count, isDigit(bytes[probe]) else { return nil }
        var isDecimal = false
        while probe < bytes.count {
            let c = bytes[probe]
            if isDigit(c) { probe += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") ||
                ((c == UInt8(ascii: "-") || c == UInt8(ascii: "+")) && isDecimal) {
                isDecimal = true; probe += 1; continue
            }
            break
        }
        let text = String(decoding: bytes[start..<probe], as: UTF8.self)
        // EDN's arbitrary-precision suffixes (42N, 1.5M) mark the same numbers.
        if probe < bytes.count && (bytes[probe] == UInt8(ascii: "N") || bytes[probe] == UInt8(ascii: "M")) { probe += 1 }
        let column = self.column
        while offset < probe { advance() }
        if isDecimal {
            guard let d = Double(text) else { throw HistoryError(line: line, column: column, expected: "a number", found: "'\(text)'") }
            return .double(d)
        }
        guard let i = Int64(text.hasPrefix("+") ? String(text.dropFirst()) : text) else {
            throw HistoryError(line: line, column: column, expected: "an integer that fits in 64 bits", found: "'\(text)'")
        }
        return .integer(i)
    }
}

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case 48...57: c - 48
    case 97...102: c - 87
    case 65...70: c - 55
    default: nil
    }
}
