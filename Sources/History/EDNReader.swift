// A small EDN reader (maps, vectors, lists, sets, keywords, numbers, strings, nil, tags) and
// the Jepsen/Knossos and Porcupine history formats built on it.

/// Reads EDN text into `Value`s.
///
/// Supported: `nil`, `true`/`false`, integers (with an optional `N`), decimals, strings,
/// characters are not; keywords (`:f`, `:jepsen.history/op`), symbols (read as keywords),
/// vectors and lists (both `.list`), sets `#{...}`, maps, comments (`;`), commas as
/// whitespace, `#_` discards, and tagged elements (`#inst "..."`, `#jepsen.history.Op{...}`),
/// whose tag is dropped.
public struct EDNReader {
    var scanner: TextScanner

    public init(_ text: String) { scanner = TextScanner(text) }

    /// Every top-level form in the text.
    public mutating func readAll() throws(HistoryError) -> [Value] {
        var forms: [Value] = []
        while true {
            skipWhitespace()
            if scanner.atEnd { return forms }
            if let form = try readForm() { forms.append(form) }
        }
    }

    /// The line and column where the next form starts.
    var position: (line: Int, column: Int) { (scanner.line, scanner.column) }

    mutating func skipWhitespace() {
        while let c = scanner.peek {
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r")
                || c == UInt8(ascii: ",") {
                scanner.advance()
            } else if c == UInt8(ascii: ";") {
                while let d = scanner.peek, d != UInt8(ascii: "\n") { scanner.advance() }
            } else {
                return
            }
        }
    }

    /// One form; nil for a discarded one (`#_ x`).
    mutating func readForm() throws(HistoryError) -> Value? {
        skipWhitespace()
        guard let c = scanner.peek else { throw scanner.error("an EDN value") }
        switch c {
        case UInt8(ascii: "["):
            return .list(try readSequence(closing: UInt8(ascii: "]")))
        case UInt8(ascii: "("):
            return .list(try readSequence(closing: UInt8(ascii: ")")))
        case UInt8(ascii: "{"):
            return try readMap()
        case UInt8(ascii: "\""):
            return .string(try scanner.quotedString())
        case UInt8(ascii: ":"):
            scanner.advance()
            let name = readSymbolText()
            guard !name.isEmpty else { throw scanner.error("a keyword name after ':'") }
            return .keyword(name)
        case UInt8(ascii: "#"):
            scanner.advance()
            guard let next = scanner.peek else { throw scanner.error("a set, a discard or a tag after '#'") }
            if next == UInt8(ascii: "{") {
                let items = try readSequence(closing: UInt8(ascii: "}"))
                return .set(items.sorted { $0.description < $1.description })
            }
            if next == UInt8(ascii: "_") {
                scanner.advance()
                _ = try readForm()
                return nil
            }
            let tag = readSymbolText()
            guard !tag.isEmpty else { throw scanner.error("a set '#{', a discard '#_' or a tag name after '#'") }
            guard let form = try readForm() else { throw scanner.error("a value after the tag #\(tag)") }
            return form
        case UInt8(ascii: "]"), UInt8(ascii: ")"), UInt8(ascii: "}"):
            throw scanner.error("an EDN value", found: "an unmatched '\(Character(Unicode.Scalar(c)))'")
        default:
            if let number = try scanner.number() { return number }
            let symbol = readSymbolText()
            switch symbol {
            case "": throw scanner.error("an EDN value")
            case "nil": return .null
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return .keyword(symbol)
            }
        }
    }

    mutating func readSequence(closing: UInt8) throws(HistoryError) -> [Value] {
        let open = (scanner.line, scanner.column)
        scanner.advance()
        var items: [Value] = []
        while true {
            skipWhitespace()
            guard let c = scanner.peek else {
                throw HistoryError(line: open.0, column: open.1,
                                   expected: "a closing '\(Character(Unicode.Scalar(closing)))' for the collection opened here",
                                   found: "end of input")
            }
            if c == closing { scanner.advance(); return items }
            if c == UInt8(ascii: "]") || c == UInt8(ascii: ")") || c == UInt8(ascii: "}") {
                throw scanner.error("'\(Character(Unicode.Scalar(closing)))' or another element",
                                    found: "'\(Character(Unicode.Scalar(c)))'")
            }
            if let item = try readForm() { items.append(item) }
        }
    }

    mutating func readMap() throws(HistoryError) -> Value {
        let open = (scanner.line, scanner.column)
        let items = try readSequence(closing: UInt8(ascii: "}"))
        guard items.count % 2 == 0 else {
            throw HistoryError(line: open.0, column: open.1, expected: "a map with an even number of forms (key value pairs)",
                               found: "\(items.count) forms")
        }
        var pairs: [Value.Pair] = []
        pairs.reserveCapacity(items.count / 2)
        var i = 0
        while i < items.count { pairs.append(Value.Pair(key: items[i], value: items[i + 1])); i += 2 }
        return .map(pairs)
    }

    mutating func readSymbolText() -> String {
        let start = scanner.offset
        while let c = scanner.peek {
            let isDelimiter = c == UInt8(ascii: " ") || c == UInt8(ascii: "\n") || c == UInt8(ascii: "\t")
                || c == UInt8(ascii: "\r") || c == UInt8(ascii: ",") || c == UInt8(ascii: "[") || c == UInt8(ascii: "]")
                || c == UInt8(ascii: "(") || c == UInt8(ascii: ")") || c == UInt8(ascii: "{") || c == UInt8(ascii: "}")
                || c == UInt8(ascii: "\"") || c == UInt8(ascii: ";")
            if isDelimiter { break }
            scanner.advance()
        }
        return String(decoding: scanner.bytes[start..<scanner.offset], as: UTF8.self)
    }
}

/// Jepsen/Knossos EDN histories, and Porcupine's key-value logs (EDN maps, one per line).
///
/// A history is either one vector of operation maps (Knossos's `data/*.edn`) or a sequence
/// of top-level maps (Porcupine's `test_data/kv/*.txt`, Jepsen's `history.edn`). Each map
/// has `:process` (an integer; `:nemesis` events are dropped), `:type` (`:invoke`, `:ok`,
/// `:fail`, `:info`), `:f` and `:value`, and optionally `:key` and `:time` (nanoseconds).
/// Example (a cas register; the cas fails, the second write crashes):
///
///     [{:process 0, :type :invoke, :f :write, :value 3}
///      {:process 0, :type :ok, :f :write, :value 3}
///      {:process 1, :type :invoke, :f :cas, :value [2 4]}
///      {:process 1, :type :fail, :f :cas, :value [2 4]}
///      {:process 2, :type :invoke, :f :write, :value 5}
///      {:process 2, :type :info, :f :write, :value 5}
///      {:process 3, :type :invoke, :f :read, :value nil}
///      {:process 3, :type :ok, :f :read, :value 3}]
public enum JepsenEDNFormat {
    /// Reads the events of an EDN history.
    /// - Parameter allowTruncatedTail: accept a history cut off inside its last event (as a
    ///   crashed test leaves it): the complete events before the cut are kept. Otherwise
    ///   that is an error, like any malformed input.
    public static func read(_ text: String, allowTruncatedTail: Bool = false) throws(HistoryError) -> History {
        var reader = EDNReader(text)
        var events: [Event] = []
        while true {
            reader.skipWhitespace()
            if reader.scanner.atEnd { break }
            let (line, column) = reader.position
            if reader.scanner.peek == UInt8(ascii: "[") {
                // The usual shape, one vector of maps: read it element by element.
                reader.scanner.advance()
                while true {
                    reader.skipWhitespace()
                    if reader.scanner.atEnd {
                        if allowTruncatedTail { return History(events: events) }
                        throw HistoryError(line: line, column: column, expected: "a closing ']' for the history opened here",
                                           found: "end of input")
                    }
                    if reader.scanner.peek == UInt8(ascii: "]") { reader.scanner.advance(); break }
                    let (itemLine, itemColumn) = reader.position
                    let item: Value?
                    do {
                        item = try reader.readForm()
                    } catch {
                        if allowTruncatedTail && error.found == "end of input" { return History(events: events) }
                        throw error
                    }
                    guard let item else { continue }
                    if let event = try event(from: item, line: itemLine, column: itemColumn) { events.append(event) }
                }
                continue
            }
            let form: Value?
            do {
                form = try reader.readForm()
            } catch {
                if allowTruncatedTail && error.found == "end of input" { return History(events: events) }
                throw error
            }
            guard let form else { continue }
            switch form {
            case .map:
                if let event = try event(from: form, line: line, column: column) { events.append(event) }
            case .list(let items):
                for item in items {
                    if let event = try event(from: item, line: line, column: column) { events.append(event) }
                }
            default:
                throw HistoryError(line: line, column: column, expected: "a vector of operation maps or an operation map",
                                   found: excerpt(form))
            }
        }
        return History(events: events)
    }

    static func event(from form: Value, line: Int, column: Int) throws(HistoryError) -> Event? {
        guard case .map = form else {
            throw HistoryError(line: line, column: column, expected: "an operation map {:process .., :type .., :f ..}",
                               found: excerpt(form))
        }
        let lineOf = line
        guard let processValue = form[.keyword("process")] else {
            throw HistoryError(line: lineOf, column: column, expected: "a :process in \(excerpt(form))")
        }
        guard let process = processValue.integer else {
            if case .keyword = processValue { return nil } // :nemesis and other non-client processes
            throw HistoryError(line: lineOf, column: column, expected: "an integer :process", found: processValue.description)
        }
        guard case .keyword(let typeName)? = form[.keyword("type")], let kind = Event.Kind(rawValue: typeName) else {
            throw HistoryError(line: lineOf, column: column, expected: ":type :invoke, :ok, :fail or :info in \(excerpt(form))",
                               found: form[.keyword("type")]?.description ?? "no :type")
        }
        guard let f = form[.keyword("f")], let function = f.text else {
            throw HistoryError(line: lineOf, column: column, expected: "an :f keyword in \(excerpt(form))")
        }
        return Event(kind, process: Int(process), function: function, key: form[.keyword("key")],
                     value: form[.keyword("value")] ?? .null, time: form[.keyword("time")]?.integer, line: lineOf)
    }

    static func excerpt(_ form: Value) -> String {
        let text = form.description
        return text.count > 60 ? String(text.prefix(60)) + "...}" : text
    }

    /// Writes `history` as an EDN vector, one map per line.
    public static func write(_ history: History) -> String {
        var out = "["
        for (i, e) in history.events.enumerated() {
            if i > 0 { out += "\n " }
            out += "{:process \(e.process), :type :\(e.kind.rawValue), :f :\(e.function)"
            if let key = e.key { out += ", :key \(key)" }
            out += ", :value \(e.value)"
            if let time = e.time { out += ", :time \(time)" }
            out += "}"
        }
        return out + "]\n"
    }
}

/// Porcupine's key-value history logs: one EDN map per line,
/// `{:process 0, :type :invoke, :f :put, :key "3", :value "x 0 1 y"}`, with `:get`, `:put`
/// and `:append`; a get of a missing key returns `""`.
public enum PorcupineKVFormat {
    public static func read(_ text: String) throws(HistoryError) -> History { try JepsenEDNFormat.read(text) }

    /// Writes `history` in Porcupine's spelling (`get`/`put`, string values).
    public static func write(_ history: History) -> String {
        var out = ""
        for e in history.events {
            let f = e.function == "read" ? "get" : e.function == "write" ? "put" : e.function
            let value = e.value.isNull ? "nil" : ednQuoted(e.value.text ?? e.value.description)
            let key = e.key.map { ednQuoted($0.text ?? $0.description) } ?? "\"\""
            out += "{:process \(e.process), :type :\(e.kind.rawValue), :f :\(f), :key \(key), :value \(value)}\n"
        }
        return out
    }
}

/// Jepsen's log-line form, as printed by `jepsen.util` in test logs:
/// `INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]`. Fields are separated by tabs or
/// runs of spaces; anything before the process id is ignored; lines that are not events are
/// skipped; `:nemesis` lines are dropped; the value is EDN (`nil`, `3`, `[old new]`,
/// `:timed-out` on `:info` lines).
public enum JepsenLogFormat {
    public static func read(_ text: String) throws(HistoryError) -> History {
        var events: [Event] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            guard let event = try parse(line: Substring(line), number: lineNumber) else { continue }
            events.append(event)
        }
        return History(events: events)
    }

    static func parse(line: Substring, number: Int) throws(HistoryError) -> Event? {
        // Find "<process> :<type> :<f> " with a known type; tokens are separated by whitespace.
        let utf8 = Array(line.utf8)
        var tokens: [(start: Int, end: Int)] = []
        var i = 0
        while i < utf8.count && tokens.count < 64 {
            while i < utf8.count && (utf8[i] == 32 || utf8[i] == 9) { i += 1 }
            let start = i
            while i < utf8.count && utf8[i] != 32 && utf8[i] != 9 { i += 1 }
            if i > start { tokens.append((start, i)) }
        }
        func text(_ t: (start: Int, end: Int)) -> String { String(decoding: utf8[t.start..<t.end], as: UTF8.self) }
        guard tokens.count >= 3 else { return nil }
        for k in 0..<(tokens.count - 2) {
            let typeText = text(tokens[k + 1])
            guard typeText.hasPrefix(":"), let kind = Event.Kind(rawValue: String(typeText.dropFirst())) else { continue }
            let processText = text(tokens[k])
            let fText = text(tokens[k + 2])
            guard fText.hasPrefix(":"), fText.count > 1 else {
                throw HistoryError(line: number, column: tokens[k + 2].start + 1, expected: "an :f keyword after :\(kind.rawValue)",
                                   found: "'\(fText)'")
            }
            if processText == ":nemesis" { return nil }
            guard let process = Int(processText) else { continue }
            var value: Value = .null
            if k + 3 < tokens.count {
                let valueStart = tokens[k + 3].start
                var reader = EDNReader(String(decoding: utf8[valueStart...], as: UTF8.self))
                do {
                    value = try reader.readForm() ?? .null
                } catch {
                    throw HistoryError(line: number, column: valueStart + error.column, expected: error.expected, found: error.found)
                }
            }
            return Event(kind, process: process, function: String(fText.dropFirst()), value: value, line: number)
        }
        return nil
    }

    /// Writes `history` as log lines (`PROCESS\t:TYPE\t:F\tVALUE`).
    public static func write(_ history: History) -> String {
        history.events.map { "\($0.process)\t:\($0.kind.rawValue)\t:\($0.function)\t\($0.value)\n" }.joined()
    }
}
