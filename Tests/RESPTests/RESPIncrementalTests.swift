// The parsers against Redis's rules: integers as string2ll reads them, the limits before AUTH,
// a frame parsed once however many reads it takes, parseHead rejecting what parse rejects, and
// attribute chains without recursion.

import RESP
import Testing

@Suite("RESP parsing as Redis does it")
struct RESPRedisRulesTests {
    func commandResult(_ text: String, unauthenticated: Bool = false) -> Result<[[UInt8]]?, RESPParseError> {
        var parser = RESPCommandParser()
        parser.unauthenticated = unauthenticated
        var command = RESPCommand()
        do {
            guard try parser.parse(Array(text.utf8), into: &command) != nil else { return .success(nil) }
            return .success(command.arguments)
        } catch {
            return .failure(error)
        }
    }

    func valueError(_ text: String) -> RESPParseError? {
        do { _ = try RESPValueParser().parse(Array(text.utf8)); return nil } catch { return error }
    }

    func headError(_ text: String) -> RESPParseError? {
        do { _ = try Array(text.utf8).withUnsafeBytes { try RESPValueParser().parseHead($0) }; return nil } catch let error as RESPParseError { return error } catch { return nil }
    }

    // What redis-server 7.0.15 answered for each input (checked over a socket; the transport
    // tests compare against a live redis-server too).
    @Test("lengths Redis's string2ll rejects ($+4, $004, $-0, '$ 4', *+1, *01, *-0) are protocol errors")
    func invalidIntegers() throws {
        #expect(commandResult("*1\r\n$+4\r\nPING\r\n") == .failure(.invalidBulkLength(offset: 5)))
        #expect(commandResult("*1\r\n$004\r\nPING\r\n") == .failure(.invalidBulkLength(offset: 5)))
        #expect(commandResult("*1\r\n$-0\r\n") == .failure(.invalidBulkLength(offset: 5)))
        #expect(commandResult("*1\r\n$ 4\r\nPING\r\n") == .failure(.invalidBulkLength(offset: 5)))
        #expect(commandResult("*+1\r\n$4\r\nPING\r\n") == .failure(.invalidMultibulkLength(offset: 1)))
        #expect(commandResult("*01\r\n$4\r\nPING\r\n") == .failure(.invalidMultibulkLength(offset: 1)))
        #expect(commandResult("*-0\r\n") == .failure(.invalidMultibulkLength(offset: 1)))
        #expect(commandResult("*1\r\n$0\r\n\r\n") == .success([[]]))
        // Replies are read by the same rule (hiredis does too).
        #expect(valueError("$+5\r\nhello\r\n") == .invalidBulkLength(offset: 1))
        #expect(valueError("$007\r\nabcdefg\r\n") == .invalidBulkLength(offset: 1))
        #expect(valueError("*-2\r\n") == .invalidMultibulkLength(offset: 1))
        #expect(valueError(":+5\r\n") == .invalidInteger(offset: 1))
        #expect(valueError(":-0\r\n") == .invalidInteger(offset: 1))
        #expect(valueError(":-9223372036854775809\r\n") == .invalidInteger(offset: 1))
        #expect(try RESPValueParser().parse(Array(":-9223372036854775808\r\n".utf8))?.value == .integer(.min))
    }

    @Test("*-2, *-1 and *0 are empty commands that Redis skips, not errors")
    func emptyArrays() {
        for text in ["*-2\r\n", "*-1\r\n", "*0\r\n"] {
            #expect(commandResult(text) == .success([]), "\(text)")
        }
    }

    @Test("before AUTH, more than 10 elements or a bulk over 16 KB gets Redis's 'unauthenticated' errors")
    func unauthenticatedLimits() {
        let eleven = "*11\r\n"
        #expect(commandResult(eleven, unauthenticated: true) == .failure(.unauthenticatedMultibulkLength(length: 11, offset: 1)))
        #expect(RESPParseError.unauthenticatedMultibulkLength(length: 11, offset: 1).redisMessage == "Protocol error: unauthenticated multibulk length")
        #expect(commandResult(eleven) == .success(nil))
        #expect(commandResult("*10\r\n", unauthenticated: true) == .success(nil))
        let big = "*2\r\n$4\r\nAUTH\r\n$16385\r\n"
        #expect(commandResult(big, unauthenticated: true) == .failure(.unauthenticatedBulkLength(length: 16385, offset: 15)))
        #expect(RESPParseError.unauthenticatedBulkLength(length: 16385, offset: 15).redisMessage == "Protocol error: unauthenticated bulk length")
        #expect(commandResult("*2\r\n$4\r\nAUTH\r\n$16384\r\n", unauthenticated: true) == .success(nil))
        #expect(commandResult(big) == .success(nil))
    }

    @Test("an inline command of 11 words is accepted before AUTH, as Redis does, and passes the consistency checks (a fuzz finding)")
    func inlineBeforeAuth() {
        let line = "S=Boot \"a b\" c d e f g h i j k\r\n"
        #expect(commandResult(line, unauthenticated: true).map { $0?.count } == .success(11))
        let violation = Array(line.utf8).withUnsafeBytes { RESPConsistency.check($0, splits: [3, 9], limits: .default, unauthenticated: true) }
        #expect(violation == nil, "\(String(describing: violation))")
    }

    @Test("parseHead rejects exactly what parse rejects")
    func headRejectsWhatParseRejects() {
        let inputs = ["_x\r\n", "#x\r\n", "#tt\r\n", ",abc\r\n", ",0x10\r\n", "(12a\r\n", "(\r\n", "~-1\r\n", "!-1\r\n", "%-1\r\n",
                      "=5\r\nab:cd\r\n", "=3\r\nabc\r\n", ":+1\r\n", "$01\r\nx\r\n", "*1\r\n:1x\r\n", "|1\r\n+a\r\n+b\r\n_1\r\n",
                      "*1\r\n?\r\n"]
        for text in inputs {
            let expected = valueError(text)
            #expect(expected != nil, "parse accepted \(text.debugDescription)")
            #expect(headError(text) == expected, "\(text.debugDescription)")
        }
    }

    @Test("a chain of 200,000 RESP3 attributes parses without recursing (parse and parseHead)")
    func attributeChain() throws {
        var bytes: [UInt8] = []
        for _ in 0..<200_000 { bytes += Array("|1\r\n+key\r\n+val\r\n".utf8) }
        bytes += Array(":7\r\n".utf8)
        let parsed = try #require(try RESPValueParser().parse(bytes))
        #expect(parsed.value == .integer(7) && parsed.consumed == bytes.count)
        let head = try #require(try bytes.withUnsafeBytes { try RESPValueParser().parseHead($0) })
        #expect(head.head.number == 7 && head.consumed == bytes.count)
        #expect(try RESPValueParser().parse(Array(bytes.dropLast(3))) == nil)
    }
}

@Suite("RESP command parser keeps its progress")
struct RESPIncrementalTests {
    /// A multibulk of `elements` 3-byte arguments, streamed in `piece`-byte reads as the server
    /// reads it (bytes accumulate from the frame's start until the frame completes).
    func stream(elements: Int, piece: Int) throws -> (examined: Int, maxPerRead: Int, frame: Int, command: RESPCommand) {
        var frame = Array("*\(elements)\r\n".utf8)
        for i in 0..<elements { frame += Array("$3\r\n\(String(format3: i))\r\n".utf8) }
        var parser = RESPCommandParser()
        var command = RESPCommand()
        var maxPerRead = 0
        var end = 0
        var done = false
        while !done {
            end = min(end + piece, frame.count)
            let before = parser.examinedBytes
            let n = try frame.withUnsafeBytes { try parser.parse(UnsafeRawBufferPointer(rebasing: $0[..<end]), baseOffset: 0, into: &command) }
            maxPerRead = max(maxPerRead, parser.examinedBytes - before)
            if let n {
                #expect(n == frame.count)
                done = true
            } else {
                #expect(end < frame.count, "the whole frame was given but not parsed")
                if end == frame.count { break }
            }
        }
        return (parser.examinedBytes, maxPerRead, frame.count, command)
    }

    @Test("a multibulk streamed in 64 KB reads is scanned once: bytes examined per read do not grow with the frame")
    func examinedOnce() throws {
        let small = try stream(elements: 20_000, piece: 65536)
        let large = try stream(elements: 200_000, piece: 65536)
        #expect(large.command.count == 200_000 && large.command.string(199_999) == "999")
        // Re-parsing from the frame's start on every read would examine ~reads/2 times the frame.
        #expect(small.examined <= small.frame + 64)
        #expect(large.examined <= large.frame + 64)
        #expect(large.maxPerRead <= 65536 + 64, "per-read work \(large.maxPerRead) grew with the frame")
        #expect(small.maxPerRead <= 65536 + 64)
    }

    @Test("a frame split at every byte, with one parser, gives the same command")
    func everyByte() throws {
        let frame = Array("*3\r\n$3\r\nSET\r\n$11\r\nkey\r\n\r\n1234\r\n$0\r\n\r\n".utf8)
        var parser = RESPCommandParser()
        var command = RESPCommand()
        for end in 1..<frame.count {
            #expect(try frame.withUnsafeBytes { try parser.parse(UnsafeRawBufferPointer(rebasing: $0[..<end]), into: &command) } == nil)
        }
        #expect(try parser.parse(frame, into: &command) == frame.count)
        #expect(command.arguments == [Array("SET".utf8), Array("key\r\n\r\n1234".utf8), []])
    }

    @Test("a different stream offset, or fewer bytes, starts the frame afresh; reset() forgets progress")
    func freshStart() throws {
        var parser = RESPCommandParser()
        var command = RESPCommand()
        #expect(try parser.parse(Array("*2\r\n$3\r\nGET\r\n".utf8), into: &command) == nil)
        // The same offset with other bytes but fewer of them: a new stream.
        #expect(try parser.parse(Array("PING\r\n".utf8), into: &command) == 6)
        #expect(command.arguments == [Array("PING".utf8)])
        #expect(try parser.parse(Array("*2\r\n$3\r\nGET\r\n".utf8), baseOffset: 100, into: &command) == nil)
        #expect(try parser.parse(Array("*1\r\n$4\r\nPING\r\n".utf8), baseOffset: 7, into: &command) == 14)
        #expect(command.arguments == [Array("PING".utf8)])
    }
}

extension String {
    /// `i` modulo 1000 as three digits.
    init(format3 i: Int) {
        let n = i % 1000
        self = (n < 100 ? "0" : "") + (n < 10 ? "0" : "") + String(n)
    }
}
