// Reading and writing histories: kvlab JSON Lines, Jepsen EDN and log lines, Porcupine logs.

import History
import Testing

@Suite("History formats")
struct HistoryFormatTests {
    @Test("the README's JSON Lines example reads as two operations with keys, values and times")
    func jsonLinesExample() throws {
        let text = """
        {"type":"invoke","process":0,"f":"write","key":"user1","value":"5f1c0e2a9b7d3e44","time":1200}
        {"type":"invoke","process":1,"f":"read","key":"user1","value":null,"time":1300}
        {"type":"ok","process":0,"f":"write","key":"user1","value":"5f1c0e2a9b7d3e44","time":2100}
        {"type":"ok","process":1,"f":"read","key":"user1","value":"5f1c0e2a9b7d3e44","time":2500}

        """
        let history = try JSONLinesFormat.read(text)
        #expect(history.events.count == 4)
        #expect(history.events[1].time == 1300)
        let operations = try history.operations()
        #expect(operations.count == 2)
        #expect(operations[0].function == "write")
        #expect(operations[0].key == .string("user1"))
        #expect(operations[1].output == .string("5f1c0e2a9b7d3e44"))
        #expect(operations[1].invokePosition == 1 && operations[1].returnPosition == 3)
    }

    @Test("every format writes what it reads back unchanged", arguments: HistoryFormat.allCases)
    func roundTrip(format: HistoryFormat) throws {
        var events: [Event] = [
            Event(.invoke, process: 0, function: "write", key: .string("a"), value: .string("x 0 1 y")),
            Event(.invoke, process: 1, function: "read", key: .string("a"), value: .null),
            Event(.ok, process: 0, function: "write", key: .string("a"), value: .string("x 0 1 y")),
            Event(.ok, process: 1, function: "read", key: .string("a"), value: .string("x 0 1 y")),
            Event(.invoke, process: 2, function: "append", key: .string("b"), value: .string("q\"uote")),
            Event(.info, process: 2, function: "append", key: .string("b"), value: .string("q\"uote")),
        ]
        if format == .jepsenLog || format == .jepsen {
            // Jepsen's single-register forms carry no keys; use cas values instead.
            events = [
                Event(.invoke, process: 0, function: "cas", value: .list([.integer(1), .integer(2)])),
                Event(.invoke, process: 1, function: "read"),
                Event(.fail, process: 0, function: "cas", value: .list([.integer(1), .integer(2)])),
                Event(.ok, process: 1, function: "read", value: .integer(-3)),
                Event(.invoke, process: 2, function: "write", value: .integer(4)),
                Event(.info, process: 2, function: "write", value: .keyword("timed-out")),
            ]
        }
        let written = format.write(History(events: events))
        let read = try format.read(written)
        #expect(read.events.map(\.kind) == events.map(\.kind))
        #expect(read.events.map(\.process) == events.map(\.process))
        #expect(read.events.map(\.function) == events.map(\.function))
        #expect(read.events.map(\.value) == events.map(\.value))
        #expect(read.events.map(\.key) == events.map(\.key))
    }

    @Test("the EDN reader handles maps, vectors, lists, sets, keywords, strings, nil, comments, tags and discards")
    func ednValues() throws {
        var reader = EDNReader("""
        ; a comment
        {:a 1, :b [1 -2 3N], :c #{:y :x}, :d "s\\"q\\n", :e nil, :f (true false), :g #inst "2020", :h #_ 99 7, :i 1.5}
        """)
        let forms = try reader.readAll()
        #expect(forms.count == 1)
        let map = forms[0]
        #expect(map[.keyword("a")] == .integer(1))
        #expect(map[.keyword("b")] == .list([.integer(1), .integer(-2), .integer(3)]))
        #expect(map[.keyword("c")] == .set([.keyword("x"), .keyword("y")]))
        #expect(map[.keyword("d")] == .string("s\"q\n"))
        #expect(map[.keyword("e")] == .null)
        #expect(map[.keyword("f")] == .list([.bool(true), .bool(false)]))
        #expect(map[.keyword("g")] == .string("2020"))
        #expect(map[.keyword("h")] == .integer(7))
        #expect(map[.keyword("i")] == .double(1.5))
    }

    @Test("a Knossos history drops nemesis events and keeps :time; a top-level list works too")
    func knossosShapes() throws {
        let vector = try JepsenEDNFormat.read("""
        [{:process :nemesis, :type :info, :f :kill, :value nil}
         {:process 0, :type :invoke, :f :write, :value 3, :time 10}
         {:process 0, :type :ok, :f :write, :value 3, :time 20}]
        """)
        #expect(vector.events.count == 2)
        #expect(vector.events[1].time == 20)
        let list = try JepsenEDNFormat.read("({:type :invoke, :f :read, :value nil, :process 1}\n{:type :ok, :f :read, :value 0, :process 1})")
        #expect(try list.operations().first?.output == .integer(0))
    }

    @Test("Jepsen log lines are found after any prefix, with tabs or runs of spaces")
    func jepsenLogLines() throws {
        let text = """
        2017-01-01 INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]
        some unrelated log line
        INFO  jepsen.util - :nemesis\t:info\t:start\tnil
        INFO  jepsen.util - 3   :info   :cas   :timed-out
        INFO  jepsen.util - 5\t:invoke\t:read\tnil
        INFO  jepsen.util - 5\t:ok\t:read\t4
        """
        let history = try JepsenLogFormat.read(text)
        #expect(history.events.count == 4)
        let operations = try history.operations()
        #expect(operations.count == 2)
        #expect(operations[0].input == .list([.integer(1), .integer(4)]))
        #expect(operations[0].outcome == .unknown)
        #expect(operations[1].output == .integer(4))
        #expect(history.events[3].line == 6)
    }

    @Test("Porcupine key-value lines read as keyed reads, writes and appends")
    func porcupineLines() throws {
        let text = """
        {:process 0, :type :invoke, :f :put, :key "6", :value "x 0 0 y"}
        {:process 1, :type :invoke, :f :get, :key "6", :value nil}
        {:process 0, :type :ok, :f :put, :key "6", :value "x 0 0 y"}
        {:process 1, :type :ok, :f :get, :key "6", :value ""}
        {:process 0, :type :invoke, :f :append, :key "6", :value "x 0 1 y"}
        {:process 0, :type :ok, :f :append, :key "6", :value "x 0 1 y"}
        """
        let operations = try PorcupineKVFormat.read(text).operations()
        #expect(operations.map(\.function) == ["write", "read", "append"])
        #expect(operations.allSatisfy { $0.key == .string("6") })
        #expect(operations[1].output == .string(""))
    }

    @Test("malformed input names the line, the column and what was expected",
          arguments: [
            (HistoryFormat.jepsen, "[{:process 0, :type :invoke, :f :write, :value 3}\n {:process 0, :type :ok, :f :write :value 3]", 2, "'}' or another element"),
            (.jepsen, "[{:process 0, :type :invoke, :f :write, :value 3}\n {:process 0, :type :ok", 2, "a closing '}'"),
            (.jepsen, "[{:process 0, :type :invokes, :f :write}]", 1, ":type :invoke, :ok, :fail or :info"),
            (.kvlab, "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\"ok\",\"process\":0,\"f\":\"read\",\"value\":tru}", 2, "a JSON value"),
            (.kvlab, "{\"type\":\"invoke\",\"process\":\"zero\",\"f\":\"read\"}", 1, "an integer \"process\""),
            (.jepsenLog, "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4", 1, "a closing ']'"),
          ])
    func malformed(format: HistoryFormat, text: String, line: Int, expected: String) throws {
        do {
            _ = try format.read(text)
            Issue.record("no error for \(text)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.column >= 1)
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test("a truncated EDN history is an error, unless its complete events are asked for")
    func truncatedEDN() throws {
        let text = "[{:process 0, :type :invoke, :f :write, :value 3}\n{:process 0, :type :ok, :f :write, :value 3}\n{:process 1, :type :inv"
        #expect(throws: HistoryError.self) { try JepsenEDNFormat.read(text) }
        let history = try JepsenEDNFormat.read(text, allowTruncatedTail: true)
        #expect(history.events.count == 2)
    }
}

@Suite("History operations")
struct HistoryOperationTests {
    @Test("invocations pair with their process's next completion; fail drops, info and no completion stay unknown")
    func pairing() throws {
        let history = History(events: [
            Event(.invoke, process: 0, function: "write", value: .integer(1)),
            Event(.invoke, process: 1, function: "write", value: .integer(2)),
            Event(.invoke, process: 2, function: "cas", value: .list([.integer(1), .integer(3)])),
            Event(.fail, process: 1, function: "write", value: .integer(2)),
            Event(.info, process: 0, function: "write", value: .integer(1)),
            Event(.invoke, process: 3, function: "read"),
        ])
        let operations = try history.operations()
        #expect(operations.map(\.process) == [0, 2, 3])
        #expect(operations.map(\.id) == [0, 1, 2])
        #expect(operations.allSatisfy { $0.outcome == .unknown && $0.returnPosition == nil })
    }

    @Test("a completion without a pending invocation is an error naming its line")
    func orphanCompletion() throws {
        let history = try JepsenEDNFormat.read("[{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value 1}\n{:process 0, :type :ok, :f :read, :value 1}]")
        do {
            _ = try history.operations()
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3)
            #expect(error.description.contains("an invocation by process 0"))
        }
    }

    @Test("recorders merge into one history sorted by time, invocations first at equal times, digests as hex")
    func recorderMerge() throws {
        let a = HistoryRecorder(process: 0), b = HistoryRecorder(process: 1)
        let key = Array("k".utf8)
        key.withUnsafeBytes { k in
            a.record(.write, key: k, digest: 0xABC, outcome: .ok, invoked: 10, completed: 20)
            b.record(.read, key: k, digest: 0xABC, outcome: .ok, invoked: 20, completed: 30)
            b.record(.read, key: k, digest: nil, outcome: .ok, invoked: 5, completed: 6)
        }
        let history = HistoryRecorder.history(merging: [a, b])
        #expect(history.events.map(\.time) == [5, 6, 10, 20, 20, 30])
        #expect(history.events[3].kind == .invoke && history.events[3].process == 1)
        #expect(history.events[4].kind == .ok && history.events[4].process == 0)
        #expect(history.events[4].value == .string("0000000000000abc"))
        #expect(history.events[1].value == .null)
        let reread = try JSONLinesFormat.read(JSONLinesFormat.write(history))
        #expect(reread.events == history.events.map { var e = $0; e.line = nil; return e }.enumerated().map { i, e in
            var copy = e
            copy.line = i + 1
            return copy
        })
    }

    @Test("value digests are stable and differ for different bytes")
    func digests() {
        let x = Array("hello world, a record of some length".utf8), y = Array("hello world, a record of some lengtH".utf8)
        let dx = x.withUnsafeBytes { ValueDigest.of($0) }, dy = y.withUnsafeBytes { ValueDigest.of($0) }
        #expect(dx != dy)
        #expect(dx == x.withUnsafeBytes { ValueDigest.of($0) })
        #expect([UInt8]().withUnsafeBytes { ValueDigest.of($0) } != [UInt8(0)].withUnsafeBytes { ValueDigest.of($0) })
    }
}

@Suite("History format detection")
struct HistoryFormatGuessTests {
    @Test("the format follows from the file name, else from the first bytes",
          arguments: [
            ("h.jsonl", "", HistoryFormat.kvlab), ("h.edn", "", .jepsen), ("jepsen.log", "", .jepsenLog),
            ("h", "  {\"type\":\"invoke\"}", .kvlab), ("h", "[{:process 0}]", .jepsen), ("h", "{:process 0, :type :invoke}", .jepsen),
            ("h", "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n", .jepsenLog),
          ])
    func guess(path: String, head: String, expected: HistoryFormat) {
        #expect(HistoryFormat.guess(path: path, text: head) == expected)
    }
}
