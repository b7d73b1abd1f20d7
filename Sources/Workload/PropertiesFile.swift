// Java `.properties` syntax, as `java.util.Properties.load` reads it, with each entry's line.

import Foundation

/// One parsed properties file.
///
/// Syntax (the subset of `java.util.Properties` that matters, implemented whole):
/// - natural lines end in `\n`, `\r` or `\r\n`; leading spaces, tabs and form feeds are ignored;
/// - a line whose first non-blank character is `#` or `!` is a comment;
/// - a line ending in an odd number of backslashes continues on the next line, whose leading
///   blanks are dropped;
/// - the key ends at the first unescaped `=`, `:` or blank; blanks around one `=` or `:` are
///   skipped, and the rest of the line is the value (`key=value`, `key: value`, `key value`);
/// - escapes in keys and values: `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\x` for any other `x`
///   (so `\\`, `\=`, `\:`, `\ `).
public struct PropertiesFile: Sendable {
    /// A key and value and the 1-based line where its logical line starts.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var line: Int
    }

    /// The path the text was read from (used in messages).
    public let path: String
    /// The entries in file order; a key may repeat (the last one wins when merged).
    public let entries: [Entry]

    /// Parses properties text.
    /// - Parameters:
    ///   - contents: the text of the file.
    ///   - path: the name used in messages and to resolve relative paths.
    /// - Throws: `WorkloadError.syntax` for a malformed `\uXXXX` escape.
    public init(contents: String, path: String) throws(WorkloadError) {
        self.path = path
        self.entries = try PropertiesFile.parse(Array(contents.unicodeScalars), path: path)
    }

    /// Reads and parses the file at `path`.
    /// - Throws: `WorkloadError.unreadableFile` or `.syntax`.
    public static func load(path: String) throws(WorkloadError) -> PropertiesFile {
        let text = try FileText.read(path)
        return try PropertiesFile(contents: text, path: path)
    }

    /// The entries as a dictionary (later entries win).
    public var dictionary: [String: String] {
        var result: [String: String] = [:]
        for entry in entries { result[entry.key] = entry.value }
        return result
    }

    // MARK: - Parsing

    private static func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\u{0C}" }
    private static func isLineEnd(_ c: Unicode.Scalar) -> Bool { c == "\n" || c == "\r" }

    private static func parse(_ text: [Unicode.Scalar], path: String) throws(WorkloadError) -> [Entry] {
        var entries: [Entry] = []
        var i = 0
        var line = 1
        let n = text.count

        /// Consumes one line terminator at `i` (if any) and counts the line.
        func consumeLineEnd() {
            guard i < n else { return }
            if text[i] == "\r" {
                i += 1
                if i < n && text[i] == "\n" { i += 1 }
                line += 1
            } else if text[i] == "\n" {
                i += 1
                line += 1
            }
        }

        while i < n {
            while i < n && isBlank(text[i]) { i += 1 }
            if i >= n { break }
            if isLineEnd(text[i]) { consumeLineEnd(); continue }
            if text[i] == "#" || text[i] == "!" {
                while i < n && !isLineEnd(text[i]) { i += 1 }
                consumeLineEnd()
                continue
            }
            let startLine = line
            var logical: [Unicode.Scalar] = []
            while true {
                let segmentStart = i
                while i < n && !isLineEnd(text[i]) { i += 1 }
                var backslashes = 0
                var j = i - 1
                while j >= segmentStart && text[j] == "\\" { backslashes += 1; j -= 1 }
                if backslashes % 2 == 1 {
                    logical.append(contentsOf: text[segmentStart..<(i - 1)])
                    if i >= n { break }
                    consumeLineEnd()
                    while i < n && isBlank(text[i]) { i += 1 }
                    if i >= n { break }
                    continue
                }
                logical.append(contentsOf: text[segmentStart..<i])
                consumeLineEnd()
                break
            }
            let (rawKey, rawValue) = splitKeyValue(logical)
            let key = try unescape(rawKey, path: path, line: startLine)
            let value = try unescape(rawValue, path: path, line: startLine)
            entries.append(Entry(key: key, value: value, line: startLine))
        }
        return entries
    }

    private static func splitKeyValue(_ line: [Unicode.Scalar]) -> (ArraySlice<Unicode.Scalar>, ArraySlice<Unicode.Scalar>) {
        var keyEnd = line.count
        var valueStart = line.count
        var hasSeparator = false
        var precedingBackslash = false
        var k = 0
        while k < line.count {
            let c = line[k]
            if (c == "=" || c == ":") && !precedingBackslash {
                keyEnd = k; valueStart = k + 1; hasSeparator = true
                break
            } else if isBlank(c) && !precedingBackslash {
                keyEnd = k; valueStart = k + 1
                break
            }
            precedingBackslash = c == "\\" ? !precedingBackslash : false
            k += 1
        }
        while valueStart < line.count {
            let c = line[valueStart]
            if !isBlank(c) {
                if !hasSeparator && (c == "=" || c == ":") { hasSeparator = true } else { break }
            }
            valueStart += 1
        }
        return (line[0..<keyEnd], line[valueStart..<line.count])
    }

    private static func unescape(_ s: ArraySlice<Unicode.Scalar>, path: String, line: Int) throws(WorkloadError) -> String {
        var out = String.UnicodeScalarView()
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            i += 1
            guard c == "\\" else { out.append(c); continue }
            guard i < s.endIndex else { break }
            let e = s[i]
            i += 1
            switch e {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "f": out.append("\u{0C}")
            case "u":
                var code: UInt32 = 0
                for _ in 0..<4 {
                    guard i < s.endIndex, let digit = hexValue(s[i]) else {
                        throw .syntax(path: path, line: line, message: "malformed \\uXXXX escape: expected 4 hexadecimal digits")
                    }
                    code = code * 16 + digit
                    i += 1
                }
                // Java strings are UTF-16; a lone surrogate has no scalar, so it becomes U+FFFD.
                out.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: out.append(e)
            }
        }
        return String(out)
    }

    private static func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c {
        case "0"..."9": c.value - 48
        case "a"..."f": c.value - 87
        case "A"..."F": c.value - 55
        default: nil
        }
    }
}

/// Reading a whole text file (workload files and histograms are small).
enum FileText {
    static func read(_ path: String) throws(WorkloadError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied or not a regular file" : "no such file"
            throw .unreadableFile(path: path, reason: reason)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `path` resolved against `directory` when relative.
    static func resolve(_ path: String, relativeTo directory: String?) -> String {
        if path.hasPrefix("/") { return path }
        guard let directory, !directory.isEmpty else { return path }
        return directory.hasSuffix("/") ? directory + path : directory + "/" + path
    }

    /// The directory part of a path, or nil for a bare file name.
    static func directory(of path: String) -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
