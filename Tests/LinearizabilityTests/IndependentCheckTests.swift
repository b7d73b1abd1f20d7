// Checking Jepsen independent histories per key, and the nil-read semantics (kvlab's strict, Knossos's any).

import Foundation
import History
@testable import Linearizability
import Testing

@Suite("Independent histories and nil reads")
struct IndependentCheckTests {
    /// Three cas registers (keys 0, 1, 2) in Jepsen's independent shape. Key 1 has a planted
    /// stale read: p3 reads 1 after p2's write of 2 completed (and nothing wrote 1 since).
    static let staleReadOnKeyOne = """
    [{:process 0, :type :invoke, :f :write, :value [0 1], :time 1000}
     {:process 1, :type :invoke, :f :write, :value [1 1], :time 1100}
     {:process 0, :type :ok, :f :write, :value [0 1], :time 2000}
     {:process 1, :type :ok, :f :write, :value [1 1], :time 2100}
     {:process 2, :type :invoke, :f :write, :value [1 2], :time 3000}
     {:process 4, :type :invoke, :f :cas, :value [0 [1 5]], :time 3100}
     {:process 2, :type :ok, :f :write, :value [1 2], :time 4000}
     {:process 4, :type :ok, :f :cas, :value [0 [1 5]], :time 4100}
     {:process 3, :type :invoke, :f :read, :value [1 nil], :time 5000}
     {:process 0, :type :invoke, :f :read, :value [0 nil], :time 5100}
     {:process 3, :type :ok, :f :read, :value [1 1], :time 6000}
     {:process 0, :type :ok, :f :read, :value [0 5], :time 6100}
     {:process 1, :type :invoke, :f :write, :value [2 9], :time 7000}
     {:process 1, :type :ok, :f :write, :value [2 9], :time 8000}
     {:process 4, :type :invoke, :f :read, :value [2 nil], :time 9000}
     {:process 4, :type :ok, :f :read, :value [2 9], :time 9500}
     {:process 2, :type :invoke, :f :cas, :value [2 [9 3]], :time 9600}
     {:process 2, :type :fail, :f :cas, :value [2 [9 3]], :time 9700}]
    """

    @Test("a Jepsen independent history with a stale read on one key gets the right per-key verdicts, in text and JSON")
    func perKeyVerdicts() throws {
        let operations = try JepsenIndependent.split(try JepsenEDNFormat.read(Self.staleReadOnKeyOne).operations())
        // Every key checked: with the default stop at the first violation, whether key 2 is
        // checked or "not checked" depends on which worker thread finishes first.
        let result = try check(operations, model: CASRegisterModel(), options: CheckOptions(stopAtFirstViolation: false))
        #expect(result.verdict == .violation)
        let verdicts = Dictionary(uniqueKeysWithValues: result.partitions.map { ($0.key, $0.verdict) })
        #expect(verdicts == [.integer(0): .linearizable, .integer(1): .violation, .integer(2): .linearizable])
        let bad = try #require(result.partitions.first { $0.key == .integer(1) })
        #expect(bad.stalledAt.map { result.operations[$0].process } == 3)
        #expect(bad.counterexample.map { result.operations[$0].function }.contains("read"))

        let text = result.textReport()
        #expect(text.contains("key 1: violation"))
        #expect(text.contains("key 0: linearizable") && text.contains("key 2: linearizable"))
        #expect(text.contains("1 violation, 0 unknown"))
        let json = result.jsonReport(annotations: [("independent", "true")])
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(decoded["independent"] as? Bool == true)
        let parts = try #require(decoded["partitions"] as? [[String: Any]])
        let byKey = Dictionary(uniqueKeysWithValues: parts.map { (($0["key"] as? Int) ?? -1, $0["verdict"] as? String ?? "") })
        #expect(byKey == [0: "linearizable", 1: "violation", 2: "linearizable"])
        let explanation = try #require(parts.first { ($0["key"] as? Int) == 1 }?["explanation"] as? [String])
        #expect(explanation.first == "p3's read of 1 (op #4) returned 1.")
    }

    @Test("the same history checked whole, as one register, is a false violation: the reason to split")
    func wholeIsWrong() throws {
        let operations = try JepsenEDNFormat.read(Self.staleReadOnKeyOne).operations()
        let clean = Self.staleReadOnKeyOne.replacingOccurrences(of: ":value [1 1], :time 6000", with: ":value [1 2], :time 6000")
        let cleanOperations = try JepsenEDNFormat.read(clean).operations()
        // Per key the clean history is linearizable; whole, it is not (key 0's read sees [0 5]
        // after key 1's write of [1 2]), which is what an unsplit check reported before.
        #expect(try check(try JepsenIndependent.split(cleanOperations), model: CASRegisterModel()).verdict == .linearizable)
        #expect(try check(cleanOperations, model: CASRegisterModel()).verdict == .violation)
        #expect(JepsenIndependent.detect(operations).warning(split: false) != nil)
    }

    @Test("an ok read of nil after a completed write: a violation with strict nil reads, accepted with any (Knossos)")
    func nilReads() throws {
        var b = HistoryBuilder()
        b.op(0, "write", 1)
        b.op(1, "read", .null, .null)
        let strict = try check(b.history, model: RegisterModel())
        #expect(strict.verdict == .violation)
        #expect(strict.textReport().contains("--nil-reads any"))
        #expect(try check(b.history, model: RegisterModel(nilReads: .any)).verdict == .linearizable)
        #expect(try check(b.history, model: CASRegisterModel(nilReads: .strict)).verdict == .violation)
        #expect(try check(b.history, model: CASRegisterModel(nilReads: .any)).verdict == .linearizable)
        // `any` relaxes only nil: a stale non-nil read is still a violation.
        var c = HistoryBuilder()
        c.op(0, "write", 1)
        c.op(0, "write", 2)
        c.op(1, "read", .null, 1)
        #expect(try check(c.history, model: CASRegisterModel(nilReads: .any)).verdict == .violation)
        // And a nil read before any write is fine either way.
        var d = HistoryBuilder()
        d.op(1, "read", .null, .null)
        d.op(0, "write", 1)
        #expect(try check(d.history, model: RegisterModel(nilReads: .strict)).verdict == .linearizable)
    }

    @Test("Knossos's cas-register histories keep their published verdicts under Knossos's nil-read semantics",
          arguments: KnossosFixtures.all.filter { $0.hasPrefix("cas-register/") })
    func knossosWithAnyNilReads(file: String) throws {
        let history = try KnossosFixtures.read(file)
        let result = try check(history, model: CASRegisterModel(nilReads: .any))
        #expect(result.verdict == (file.contains("/bad/") ? .violation : .linearizable), "\(file)")
    }
}
