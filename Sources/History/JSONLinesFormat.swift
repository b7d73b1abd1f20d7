// kvlab's own history format: JSON Lines, one event per line.

/// kvlab's history format: one JSON object per line, in real-time order.
///
///     {"type":"invoke","process":0,"f":"write","key":"user1","value":"5f1c0e2a9b7d3e44","time":1200}
///     {"type":"invoke","process":1,"f":"read","key":"user1","value":null,"time":1300}
///     {"type":"ok","process":0,"f":"write","key":"user1","value":"5f1c0e2a9b7d3e44","time":2100}
///     {"type":"ok","process":1,"f":"read","key":"user1","value":"5f1c0e2a9b7d3e44","time":2500}
///
/// Fields: `type` (`invoke`, `ok`, `fail`, `info`), `process` (integer), `f` (`read`,
/// `write`, `cas`, `append`, `delete`, `txn`, `acquire`, `release`; `get`/`put` are accepted),
/// optional `key`, `value` (any JSON: null for a read's invocation and for a read of a
/// missing key, `[old, new]` for cas) and optional `time` (integer nanoseconds on one
/// monotonic clock). Empty lines are ignored. Lines are read in file order, which must be the
/// real-time order; the writer sorts recorded events by time.
public enum JSONLinesFormat {
    /// Reads a JSON Lines history.
    public static func read(_ text: String) throws(HistoryError) -> History {
        var scanner = TextScanner(text)
        var events: [Event] = []
        while true {
            skipSpace(&scanner, newlines: true)
            guard !scanner.atEnd else { break }
            let line = scanner.line
            let column = scanner.column
            let object = try parseValue(&scanner)
            guard case .map = object else {
                throw HistoryError(line: line, column: column, expected: "a JSON object (one event per line)", found: object.description)
            }
            skipSpace(&scanner, newlines: false)
            if let c = scanner.peek, c != UInt8(ascii: "\n") && c != UInt8(ascii: "\r") {
                throw scanner.error("the end of the line after the event object")
            }
            events.append(try event(object, line: line, column: column))
        }
        return History(events: events)
    }

    static func event(_ object: Value, line: Int, column: Int) throws(HistoryError) -> Event {
        func field(_ name: String) -> Value? { object[.string(name)] }
        guard let typeText = field("type")?.text, let kind = Event.Kind(rawValue: typeText) else {
            throw HistoryError(line: line, column: column, expected: "\"type\": \"invoke\", \"ok\", \"fail\" or \"info\"",
                               found: field("type")?.description ?? "no \"type\"")
        }
        guard let process = field("process")?.integer else {
            throw HistoryError(line: line, column: column, expected: "an integer \"process\"",
                               found: field("process")?.description ?? "no \"process\"")
        }
        guard case .string(let function)? = field("f") else {
            throw HistoryError(line: line, column: column, expected: "a string \"f\"", found: field("f")?.description ?? "no \"f\"")
        }
        var time: Int64?
        if let t = field("time"), !t.isNull {
            guard let nanos = t.integer else {
                throw HistoryError(line: line, column: column, expected: "an integer \"time\" (nanoseconds)", found: t.description)
            }
            time = nanos
        }
        let key = field("key").flatMap { $0.isNull ? nil : $0 }
        return Event(kind, process: Int(process), function: function, key: key, value: field("value") ?? .null,
                     time: time, line: line)
    }

    static func skipSpace(_ s: inout TextScanner, newlines: Bool) {
        while let c = s.peek {
            if c == 32 || c == 9 || (newlines && (c == 10 || c == 13)) || (!newlines && c == 13 && false) { s.advance() } else { return }
        }
    }

    static func parseValue(_ s: inout TextScanner) throws(HistoryError) -> Value {
        skipSpace(&s, newlines: false)
        guard let c = s.peek else { throw s.error("a JSON value") }
        switch c {
        case UInt8(ascii: "{"):
            s.advance()
            var pairs: [Value.Pair] = []
            skipSpace(&s, newlines: false)
            if s.peek == UInt8(ascii: "}") { s.advance(); return .map(pairs) }
            while true {
                skipSpace(&s, newlines: false)
                guard s.peek == UInt8(ascii: "\"") else { throw s.error("a quoted member name") }
                let name = try s.quotedString()
                skipSpace(&s, newlines: false)
                guard s.peek == UInt8(ascii: ":") else { throw s.error("':' after the member name \"\(name)\"") }
                s.advance()
                pairs.append(Value.Pair(key: .string(name), value: try parseValue(&s)))
                skipSpace(&s, newlines: false)
                if s.peek == UInt8(ascii: ",") { s.advance(); continue }
                if s.peek == UInt8(ascii: "}") { s.advance(); return .map(pairs) }
                throw s.error("',' or '}' in the object")
            }
        case UInt8(ascii: "["):
            s.advance()
            var items: [Value] = []
            skipSpace(&s, newlines: false)
            if s.peek == UInt8(ascii: "]") { s.advance(); return .list(items) }
            while true {
                items.append(try parseValue(&s))
                skipSpace(&s, newlines: false)
                if s.peek == UInt8(ascii: ",") { s.advance(); continue }
                if s.peek == UInt8(ascii: "]") { s.advance(); return .list(items) }
                throw s.error("',' or ']' in the array")
            }
        case UInt8(ascii: "\""):
            return .string(try s.quotedString())
        default:
            if let number = try s.number() { return number }
            for (word, value) in [("null", Value.null), ("true", .bool(true)), ("false", .bool(false))] {
                let bytes = Array(word.utf8)
                if s.offset + bytes.count <= s.bytes.count && Array(s.bytes[s.offset..<s.offset + bytes.count]) == bytes {
                    for _ in bytes { s.advance() }
                    return value
                }
            }
            throw s.error("a JSON value (object, array, string, number, true, false or null)")
        }
    }

    /// Writes `history` as JSON Lines, one event per line, in the order given.
    public static func write(_ history: History) -> String {
        var out = ""
        out.reserveCapacity(history.events.count * 96)
        for e in history.events {
            out += "{\"type\":\"\(e.kind.rawValue)\",\"process\":\(e.process),\"f\":"
            appendJSON(.string(e.function), to: &out)
            if let key = e.key {
                out += ",\"key\":"
                appendJSON(key, to: &out)
            }
            out += ",\"value\":"
            appendJSON(e.value, to: &out)
            if let time = e.time { out += ",\"time\":\(time)" }
            out += "}\n"
        }
        return out
    }

    public static func appendJSON(_ value: Value, to out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .double(let d): out += d.isFinite ? String(d) : "null"
        case .string(let s), .keyword(let s): out += jsonQuoted(s)
        case .list(let items), .set(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                appendJSON(item, to: &out)
            }
            out += "]"
        case .map(let pairs):
            out += "{"
            for (i, pair) in pairs.enumerated() {
                if i > 0 { out += "," }
                out += jsonQuoted(pair.key.text ?? pair.key.description) + ":"
                appendJSON(pair.value, to: &out)
            }
            out += "}"
        }
    }

    public static func jsonQuoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if c.value < 0x20 {
                    let hex = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}

/// The history formats kvlab reads and writes.
public enum HistoryFormat: String, Sendable, CaseIterable {
    /// kvlab's JSON Lines (`JSONLinesFormat`).
    case kvlab
    /// Jepsen/Knossos EDN (`JepsenEDNFormat`).
    case jepsen
    /// Jepsen's log lines (`JepsenLogFormat`).
    case jepsenLog = "jepsen-log"
    /// Porcupine's key-value logs (`PorcupineKVFormat`).
    case porcupine

    /// Reads `text` in this format.
    public func read(_ text: String) throws(HistoryError) -> History {
        switch self {
        case .kvlab: try JSONLinesFormat.read(text)
        case .jepsen: try JepsenEDNFormat.read(text)
        case .jepsenLog: try JepsenLogFormat.read(text)
        case .porcupine: try PorcupineKVFormat.read(text)
        }
    }

    /// Writes `history` in this format.
    public func write(_ history: History) -> String {
        switch self {
        case .kvlab: JSONLinesFormat.write(history)
        case .jepsen: JepsenEDNFormat.write(history)
        case .jepsenLog: JepsenLogFormat.write(history)
        case .porcupine: PorcupineKVFormat.write(history)
        }
    }

    /// Guesses the format from a file name and its first bytes: `.jsonl`/`{"` is kvlab's,
    /// `.edn` or a leading `[`/`{:` is EDN, a line with a tab-separated `:invoke` is a log.
    public static func guess(path: String, text: String) -> HistoryFormat {
        if path.hasSuffix(".jsonl") || path.hasSuffix(".json") { return .kvlab }
        if path.hasSuffix(".edn") { return .jepsen }
        if path.hasSuffix(".log") { return .jepsenLog }
        let head = text.prefix(4096)
        let firstContent = head.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        if firstContent.hasPrefix("{\"") || firstContent.hasPrefix("{ \"") { return .kvlab }
        if firstContent.hasPrefix("[") || firstContent.hasPrefix("{:") || firstContent.hasPrefix(";") { return .jepsen }
        if head.contains("\t:invoke\t") || head.contains(" :invoke ") { return .jepsenLog }
        return .kvlab
    }
}
