// The RESP parsers: every type, partial frames, inline commands, pipelining, limits, malformed input.

import NIOCore
import NIOEmbedded
import RESP
import Testing

@Suite("RESP values")
struct RESPValueTests {
    static let samples: [RESPValue] = [
        .simpleString("OK"), .error("ERR unknown command"), .integer(0), .integer(-42), .integer(Int64.max),
        .bulkString([]), .bulkString(Array("hello\r\nworld".utf8)), .bulkString([0, 255, 13, 10, 36]), .null, .nullArray,
        .array([]), .array([.integer(1), .bulk("two"), .array([.null, .simpleString("x")])]),
        .double(3.25), .double(-.infinity), .boolean(true), .boolean(false), .bigNumber("3492890328409238509324850943850943825024385"),
        .bulkError("SYNTAX invalid syntax"), .verbatimString(format: "txt", text: Array("Some string".utf8)),
        .map([RESPPair(.bulk("first"), .integer(1)), RESPPair(.bulk("second"), .array([.boolean(true)]))]),
        .set([.bulk("a"), .integer(2)]), .push([.bulk("message"), .bulk("channel"), .bulk("payload")]),
    ]

    @Test("every RESP2 and RESP3 type survives serialize then parse", arguments: samples)
    func roundTrip(value: RESPValue) throws {
        let bytes = value.encoded
        let parsed = try #require(try RESPValueParser().parse(bytes))
        #expect(parsed.value == value)
        #expect(parsed.consumed == bytes.count)
    }

    @Test("parseHead finds the same extent as parse and describes the outer shape", arguments: samples)
    func heads(value: RESPValue) throws {
        let bytes = value.encoded
        let head = try #require(try bytes.withUnsafeBytes { try RESPValueParser().parseHead($0) })
        #expect(head.consumed == bytes.count)
        #expect(head.head.isNull == value.isNull)
        #expect(head.head.isError == value.isError)
    }

    @Test("known wire bytes parse to the documented values")
    func knownBytes() throws {
        let cases: [(String, RESPValue)] = [
            ("+OK\r\n", .simpleString("OK")), ("-ERR x\r\n", .error("ERR x")), (":-7\r\n", .integer(-7)),
            ("$-1\r\n", .null), ("*-1\r\n", .nullArray), ("_\r\n", .null), ("#t\r\n", .boolean(true)),
            (",inf\r\n", .double(.infinity)), (",1.5e3\r\n", .double(1500)), ("$0\r\n\r\n", .bulkString([])),
            ("|1\r\n+key\r\n+val\r\n:5\r\n", .integer(5)),
        ]
        for (text, value) in cases {
            #expect(try RESPValueParser().parse(Array(text.utf8))?.value == value, "\(text)")
        }
    }

    @Test("a pipelined stream split at every byte yields each value exactly when complete")
    func partialFramesAtEveryByte() throws {
        let stream = Self.samples.flatMap(\.encoded)
        let parser = RESPValueParser()
        for split in 0...stream.count {
            // Feed the first `split` bytes, then the rest, as two reads.
            var buffered: [UInt8] = Array(stream[..<split])
            var values: [RESPValue] = []
            var consumedTotal = 0
            func drain() throws {
                while let (v, n) = try parser.parse(buffered, baseOffset: consumedTotal) {
                    values.append(v)
                    buffered.removeFirst(n)
                    consumedTotal += n
                }
            }
            try drain()
            buffered += stream[split...]
            try drain()
            #expect(values == Self.samples, "split at \(split)")
            #expect(buffered.isEmpty)
        }
    }

    @Test("every proper prefix of a frame is incomplete, not an error")
    func prefixesAreIncomplete() throws {
        for value in Self.samples {
            let bytes = value.encoded
            for n in 0..<bytes.count {
                #expect(try RESPValueParser().parse(Array(bytes[..<n])) == nil, "\(value) prefix \(n)")
            }
        }
    }
}

@Suite("RESP errors and limits")
struct RESPErrorTests {
    func valueError(_ text: String, limits: RESPLimits = .default) -> RESPParseError? {
        do { _ = try RESPValueParser(limits: limits).parse(Array(text.utf8)); return nil } catch { return error }
    }

    func commandError(_ bytes: [UInt8], limits: RESPLimits = .default) -> RESPParseError? {
        var parser = RESPCommandParser(limits: limits)
        var command = RESPCommand()
        do { _ = try parser.parse(bytes, into: &command); return nil } catch { return error }
    }

    @Test("malformed values raise typed errors naming the byte offset")
    func malformedValues() {
        #expect(valueError("?what\r\n") == .invalidTypeByte(found: UInt8(ascii: "?"), offset: 0))
        #expect(valueError("*2\r\n:1\r\n@\r\n") == .invalidTypeByte(found: UInt8(ascii: "@"), offset: 8))
        #expect(valueError("$3\r\nabcd\r\n") == .missingCRLF(offset: 7))
        #expect(valueError("$-5\r\n") == .invalidBulkLength(offset: 1))
        #expect(valueError("$x\r\n") == .invalidBulkLength(offset: 1))
        #expect(valueError("*-2\r\n") == .invalidMultibulkLength(offset: 1))
        #expect(valueError(":12a\r\n") == .invalidInteger(offset: 1))
        #expect(valueError(":99999999999999999999\r\n") == .invalidInteger(offset: 1))
        #expect(valueError("#x\r\n") == .invalidValue(kind: "boolean", offset: 1))
        #expect(valueError(",abc\r\n") == .invalidValue(kind: "double", offset: 1))
        #expect(valueError("$" + String(repeating: "1", count: 100)) == .headerTooLong(offset: 1))
    }

    @Test("the bulk, array and nesting limits are enforced with offsets")
    func valueLimits() {
        let limits = RESPLimits(maxBulkLength: 10, maxArrayLength: 3, maxNesting: 4)
        #expect(valueError("$11\r\n", limits: limits) == .bulkTooLong(length: 11, limit: 10, offset: 1))
        #expect(valueError("*4\r\n", limits: limits) == .arrayTooLong(length: 4, limit: 3, offset: 1))
        #expect(valueError("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits) == .nestingTooDeep(limit: 4, offset: 20))
        // Redis's default: 512 MB bulk strings.
        #expect(valueError("$536870913\r\n") == .bulkTooLong(length: 536_870_913, limit: 536_870_912, offset: 1))
    }

    @Test("commands: non-bulk elements, bad lengths and oversize input are typed errors with Redis's messages")
    func commandErrors() {
        let e1 = commandError(Array("*1\r\n+PING\r\n".utf8))
        #expect(e1 == .expectedBulkString(found: UInt8(ascii: "+"), offset: 4))
        #expect(e1?.redisMessage == "Protocol error: expected '$', got '+'")
        #expect(commandError(Array("*x\r\n".utf8))?.redisMessage == "Protocol error: invalid multibulk length")
        #expect(commandError(Array("*1\r\n$-3\r\n".utf8))?.redisMessage == "Protocol error: invalid bulk length")
        #expect(commandError(Array("*1\r\n$3\r\nGETX\r\n".utf8)) == .missingCRLF(offset: 11))
        let limits = RESPLimits(maxBulkLength: 8, maxArrayLength: 2, maxInlineLength: 16)
        #expect(commandError(Array("*3\r\n".utf8), limits: limits) == .arrayTooLong(length: 3, limit: 2, offset: 1))
        #expect(commandError(Array("*1\r\n$9\r\n".utf8), limits: limits) == .bulkTooLong(length: 9, limit: 8, offset: 5))
        #expect(commandError(Array(String(repeating: "a", count: 17).utf8), limits: limits) == .inlineTooLong(limit: 16, offset: 0))
        #expect(commandError(Array("SET \"abc\r\n".utf8))?.redisMessage == "Protocol error: unbalanced quotes in request")
        #expect(commandError(Array("SET \"a\"b\r\n".utf8)) == .unbalancedQuotes(offset: 6))
    }
}

@Suite("RESP commands")
struct RESPCommandTests {
    func parseAll(_ bytes: [UInt8]) throws -> [[String]] {
        var parser = RESPCommandParser()
        var command = RESPCommand()
        var offset = 0
        var out: [[String]] = []
        while offset < bytes.count, let n = try parser.parse(Array(bytes[offset...]), baseOffset: offset, into: &command) {
            offset += n
            if !command.isEmpty { out.append((0..<command.count).map { command.string($0) }) }
        }
        return out
    }

    @Test("inline commands split words and honour Redis's quoting")
    func inline() throws {
        #expect(try parseAll(Array("PING\r\n".utf8)) == [["PING"]])
        #expect(try parseAll(Array("  set   k  v \n".utf8)) == [["set", "k", "v"]])
        #expect(try parseAll(Array("SET \"a b\" 'c\\'d'\r\n".utf8)) == [["SET", "a b", "c'd"]])
        #expect(try parseAll(Array("ECHO \"\\x41\\n\"\r\n".utf8)) == [["ECHO", "A\n"]])
        #expect(try parseAll(Array("\r\n\r\nPING\r\n".utf8)) == [["PING"]])
    }

    @Test("pipelined multibulk and inline commands parse in order, binary-safe")
    func pipelined() throws {
        let stream = Array("*3\r\n$3\r\nSET\r\n$2\r\nk\u{0}\r\n$4\r\na\r\nb\r\nGET k\r\n*0\r\n*1\r\n$4\r\nPING\r\n".utf8)
        #expect(try parseAll(stream) == [["SET", "k\u{0}", "a\r\nb"], ["GET", "k"], ["PING"]])
    }

    @Test("a command stream split at every byte parses the same commands")
    func splitsAtEveryByte() throws {
        let stream = Array("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n".utf8)
        let expected = try parseAll(stream)
        #expect(expected.count == 3)
        for split in 0...stream.count {
            var parser = RESPCommandParser()
            var command = RESPCommand()
            var buffered = Array(stream[..<split])
            var got: [[String]] = []
            var base = 0
            func drain() throws {
                while !buffered.isEmpty, let n = try parser.parse(buffered, baseOffset: base, into: &command) {
                    buffered.removeFirst(n)
                    base += n
                    if !command.isEmpty { got.append((0..<command.count).map { command.string($0) }) }
                }
            }
            try drain()
            buffered += stream[split...]
            try drain()
            #expect(got == expected, "split at \(split)")
        }
    }
}

@Suite("RESP fuzzing")
struct RESPFuzzTests {
    /// SplitMix64, seeded; `KVLAB_SEED` replays a failure.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static func seed(_ fallback: UInt64, _ name: String) -> UInt64 {
        let seed = ProcessInfo_seed() ?? fallback
        print("\(name) seed: \(seed) (replay with KVLAB_SEED=\(seed))")
        return seed
    }

    static let corpus: [[UInt8]] = RESPValueTests.samples.map(\.encoded) + [
        Array("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n".utf8), Array("SET \"a b\" 'c'\r\n".utf8),
        Array("|1\r\n+key\r\n+val\r\n:5\r\n".utf8), Array("*-2\r\n*0\r\n$+5\r\n".utf8),
    ]
    static let interesting: [UInt8] = Array("*$+-:_,#(!=%~>|\r\n0123456789-\"'\\x ".utf8) + [0, 255]
    static var limits: RESPLimits {
        var limits = RESPLimits()
        limits.maxBulkLength = 1 << 16
        limits.maxArrayLength = 1 << 10
        limits.maxInlineLength = 1 << 10
        limits.maxNesting = 16
        return limits
    }

    @Test("randomly mutated inputs: parse and parseHead agree, any split gives the same values and commands, parsed values and commands round-trip")
    func randomMutations() throws {
        var random = Generator(state: Self.seed(0x5EED_2026, "RESP mutation"))
        var outcomes = [0, 0, 0]  // complete, incomplete, error (value parser, whole input)
        var input: [UInt8] = []
        for _ in 0..<20_000 {
            input.removeAll(keepingCapacity: true)
            input += Self.corpus[random.below(Self.corpus.count)]
            for _ in 0...random.below(4) {
                switch random.below(5) {
                case 0 where !input.isEmpty: input[random.below(input.count)] = UInt8(truncatingIfNeeded: random.next())
                case 1 where !input.isEmpty: input[random.below(input.count)] = Self.interesting[random.below(Self.interesting.count)]
                case 2: input.insert(Self.interesting[random.below(Self.interesting.count)], at: random.below(input.count + 1))
                case 3 where !input.isEmpty: input.remove(at: random.below(input.count))
                default: input += Self.corpus[random.below(Self.corpus.count)].prefix(random.below(16))
                }
            }
            let splits = (0..<random.below(4)).map { _ in random.below(input.count + 1) }
            let unauthenticated = random.below(4) == 0
            let violation = input.withUnsafeBytes { raw in
                RESPConsistency.check(raw, splits: splits, limits: Self.limits, unauthenticated: unauthenticated)
            }
            if let violation {
                Issue.record("\(violation) for input \(input) split at \(splits)")
                return
            }
            do {
                outcomes[try RESPValueParser(limits: Self.limits).parse(input) == nil ? 1 : 0] += 1
            } catch {
                outcomes[2] += 1
            }
        }
        #expect(outcomes.allSatisfy { $0 > 0 }, "complete/incomplete/error: \(outcomes)")
    }

    /// A random value of every RESP type, nested up to `depth`.
    static func randomValue(_ random: inout Generator, depth: Int) -> RESPValue {
        func bytes() -> [UInt8] { (0..<random.below(12)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
        func text() -> String { String((0..<random.below(10)).map { _ in Character(UnicodeScalar(UInt8(32 + random.below(95)))) }) }
        let kinds = depth > 0 ? 16 : 11
        switch random.below(kinds) {
        case 0: return .simpleString(text())
        case 1: return .error("ERR " + text())
        case 2: return .integer(Int64(bitPattern: random.next()) >> random.below(64))
        case 3: return .bulkString(bytes())
        case 4: return .null
        case 5: return .nullArray
        case 6: return .double([0.5, -2, 1e300, -.infinity, .infinity, 3.25e-7][random.below(6)])
        case 7: return .boolean(random.below(2) == 0)
        case 8: return .bigNumber((random.below(2) == 0 ? "-" : "") + String(random.next()) + String(random.next()))
        case 9: return .bulkError("SYNTAX " + text())
        case 10: return .verbatimString(format: "txt", text: bytes())
        case 11: return .array((0..<random.below(4)).map { _ in randomValue(&random, depth: depth - 1) })
        case 12: return .set((0..<random.below(4)).map { _ in randomValue(&random, depth: depth - 1) })
        case 13: return .push((0..<random.below(4)).map { _ in randomValue(&random, depth: depth - 1) })
        default:
            return .map((0..<random.below(3)).map { _ in RESPPair(randomValue(&random, depth: depth - 1), randomValue(&random, depth: depth - 1)) })
        }
    }

    @Test("random values of every type survive encode then parse, whole and split at random points")
    func randomValuesRoundTrip() throws {
        var random = Generator(state: Self.seed(0xC0DE_2026, "RESP round-trip"))
        for _ in 0..<3_000 {
            let values = (0..<(1 + random.below(4))).map { _ in Self.randomValue(&random, depth: 3) }
            let stream = values.flatMap(\.encoded)
            let parsed = try RESPValueParser().parseAll(stream)
            #expect(parsed.values == values && parsed.consumed == stream.count, "\(values)")
            let splits = (0..<(1 + random.below(6))).map { _ in random.below(stream.count + 1) }
            let violation = stream.withUnsafeBytes { RESPConsistency.check($0, splits: splits, limits: .default) }
            #expect(violation == nil, "\(String(describing: violation))")
            // The same values as command arguments (their encodings as bulk strings).
            let command = RESPCommand(arguments: values.map(\.encoded))
            var bytes: [UInt8] = []
            RESPWriter.header(UInt8(ascii: "*"), command.count, &bytes)
            for a in command.arguments { a.withUnsafeBytes { RESPWriter.bulk($0, &bytes) } }
            var parser = RESPCommandParser()
            var out = RESPCommand()
            #expect(try parser.parse(bytes, into: &out) == bytes.count)
            #expect(out == command)
            if violation != nil { return }
        }
    }
}

func ProcessInfo_seed() -> UInt64? {
    guard let text = getenv("KVLAB_SEED") else { return nil }
    return UInt64(String(cString: text))
}

#if canImport(Glibc)
import Glibc
#endif

@Suite("RESP NIO codecs")
struct RESPCodecTests {
    @Test("the value decoder reassembles frames written a byte at a time on an EmbeddedChannel")
    func valueDecoder() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPValueDecoder()))
        let bytes = RESPValueTests.samples.flatMap(\.encoded)
        for b in bytes {
            var buffer = channel.allocator.buffer(capacity: 1)
            buffer.writeInteger(b)
            try channel.writeInbound(buffer)
        }
        var decoded: [RESPValue] = []
        while let v = try channel.readInbound(as: RESPValue.self) { decoded.append(v) }
        #expect(decoded == RESPValueTests.samples)
        _ = try channel.finish()
    }

    @Test("the command decoder fails the channel with the offset of malformed input")
    func commandDecoderError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPCommandDecoder()))
        var buffer = channel.allocator.buffer(capacity: 64)
        buffer.writeString("PING\r\n*1\r\n:5\r\n")
        #expect(throws: RESPParseError.expectedBulkString(found: UInt8(ascii: ":"), offset: 10)) {
            try channel.writeInbound(buffer)
        }
        #expect(try channel.readInbound(as: RESPCommand.self) == RESPCommand(["PING"]))
    }

    @Test("the encoder writes RESP bytes")
    func encoder() throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(RESPValueEncoder()))
        try channel.writeOutbound(RESPValue.command(["SET", "k", "v"]))
        var out = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(out.readString(length: out.readableBytes) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
        _ = try channel.finish()
    }
}
