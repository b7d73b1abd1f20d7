// Java .properties syntax and the precedence of -P files, -p overrides and flags.

import Testing
@testable import Workload

@Suite("Properties files")
struct PropertiesFileTests {
    @Test("every Java .properties form parses with its line number")
    func syntaxForms() throws {
        let text = """
        # a comment
        ! another comment
           leading=spaces
        equals=1
        colon: two
        space three
        tabbed\tfour
        empty=
        spaced  =  padded value  
        escaped\\=key=x\\ty\\nz\\u0041\\\\end
        continued=first, \\
                  second, \\
            third
        last=\\
        """
        let file = try PropertiesFile(contents: text, path: "w")
        let d = file.dictionary
        #expect(d["leading"] == "spaces")
        #expect(d["equals"] == "1")
        #expect(d["colon"] == "two")
        #expect(d["space"] == "three")
        #expect(d["tabbed"] == "four")
        #expect(d["empty"] == "")
        #expect(d["spaced"] == "padded value  ")
        #expect(d["escaped=key"] == "x\ty\nzA\\end")
        #expect(d["continued"] == "first, second, third")
        #expect(d["last"] == "")
        #expect(file.entries.first { $0.key == "leading" }?.line == 3)
        #expect(file.entries.first { $0.key == "continued" }?.line == 11)
        #expect(file.entries.first { $0.key == "last" }?.line == 14)
    }

    @Test("CRLF line ends and a comment marker inside a continuation are handled as Java does")
    func crlfAndContinuationComment() throws {
        let file = try PropertiesFile(contents: "a=1\r\nb=2 \\\r\n  # not a comment\r\nc=3", path: "w")
        #expect(file.dictionary == ["a": "1", "b": "2 # not a comment", "c": "3"])
        #expect(file.entries.last?.line == 4)
    }

    @Test("a malformed unicode escape is an error naming file and line")
    func malformedUnicode() {
        let error = workloadError { _ = try PropertiesFile(contents: "a=1\nb=\\u00zz", path: "wl/x") }
        #expect(error == .syntax(path: "wl/x", line: 2, message: "malformed \\uXXXX escape: expected 4 hexadecimal digits"))
    }

    @Test("a later -P file wins, -p overrides files, and flags override -p")
    func precedence() throws {
        var p = WorkloadProperties()
        p.add(try PropertiesFile(contents: "recordcount=10\nfieldcount=3\nthreadcount=2", path: "one"))
        p.add(try PropertiesFile(contents: "recordcount=20", path: "two"))
        #expect(p["recordcount"] == PropertyValue(value: "20", source: .file(path: "two", line: 1)))
        p.applyFlag("-threads", property: "threadcount", value: "8")
        try p.applyOverride("threadcount=4")
        try p.applyOverride("fieldcount=5=x")
        #expect(p["threadcount"] == PropertyValue(value: "8", source: .flag("-threads")))
        #expect(p["fieldcount"] == PropertyValue(value: "5=x", source: .commandLine))
        // A file loaded after an override does not beat it.
        p.add(try PropertiesFile(contents: "fieldcount=9", path: "three"))
        #expect(p["fieldcount"]?.value == "5=x")
        #expect(workloadError { try p.applyOverride("novalue") } == .malformedOverride("novalue"))
    }

    @Test("a missing -P file is an error naming the path")
    func missingFile() {
        var p = WorkloadProperties()
        let error = workloadError { try p.load(file: "/nonexistent/workloadz") }
        #expect(error == .unreadableFile(path: "/nonexistent/workloadz", reason: "no such file"))
    }
}
