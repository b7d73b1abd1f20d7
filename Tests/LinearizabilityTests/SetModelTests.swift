// Jepsen's set checker: lost, unexpected and recovered elements of the final read.

import Foundation
import History
import Linearizability
import Testing

@Suite("Set model")
struct SetModelTests {
    /// Adds 1..6: 1, 2, 3 acknowledged; 4 failed; 5 indeterminate; 6 acknowledged. An early
    /// read (ignored) and the final read #{1 3 4 5 7}: 2 and 6 lost, 7 unexpected, 4 and 5
    /// recovered.
    static let text = """
    [{:process 0, :type :invoke, :f :add, :value 1}
     {:process 0, :type :ok, :f :add, :value 1}
     {:process 1, :type :invoke, :f :add, :value 2}
     {:process 1, :type :ok, :f :add, :value 2}
     {:process 2, :type :invoke, :f :read, :value nil}
     {:process 2, :type :ok, :f :read, :value #{1 2}}
     {:process 0, :type :invoke, :f :add, :value 3}
     {:process 0, :type :ok, :f :add, :value 3}
     {:process 1, :type :invoke, :f :add, :value 4}
     {:process 1, :type :fail, :f :add, :value 4}
     {:process 3, :type :invoke, :f :add, :value 5}
     {:process 3, :type :info, :f :add, :value 5}
     {:process 0, :type :invoke, :f :add, :value 6}
     {:process 0, :type :ok, :f :add, :value 6}
     {:process 2, :type :invoke, :f :read, :value nil}
     {:process 2, :type :ok, :f :read, :value #{1 3 4 5 7}}]
    """

    @Test("the final read's lost, unexpected and recovered elements, as Jepsen's set checker reports them")
    func categories() throws {
        let result = try SetChecker.check(try JepsenEDNFormat.read(Self.text))
        #expect(result.validity == .invalid)
        #expect(result.attempted == [1, 2, 3, 4, 5, 6])
        #expect(result.acknowledged == [1, 2, 3, 6])
        #expect(result.ok == [1, 3])
        #expect(result.lost == [2, 6])
        #expect(result.unexpected == [7])
        #expect(result.recovered == [4, 5])
        #expect(result.finalReadPosition == 15)
        let text = result.textReport()
        #expect(text.hasPrefix("set: invalid"))
        #expect(text.contains("lost: 2 (acknowledged, missing from the final read): 2 6"))
        #expect(text.contains("unexpected: 1 (read, never added): 7"))
        #expect(text.contains("recovered: 2 (add failed or indeterminate, yet read): 4 5"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.jsonReport().utf8)) as? [String: Any])
        #expect(json["valid"] as? String == "invalid")
        #expect(json["lost"] as? [Int] == [2, 6] && json["lost-count"] as? Int == 2)
        #expect(json["recovered"] as? [Int] == [4, 5])
    }

    @Test("every acknowledged add read, and an indeterminate one recovered, is valid")
    func valid() throws {
        let text = Self.text.replacingOccurrences(of: "#{1 3 4 5 7}", with: "[6 5 3 2 1]")
        let result = try SetChecker.check(try JepsenEDNFormat.read(text))
        #expect(result.validity == .valid)
        #expect(result.lost.isEmpty && result.unexpected.isEmpty)
        #expect(result.recovered == [5])
        #expect(result.ok == [1, 2, 3, 6])
    }

    @Test("a set that was never read is unknown, as in Jepsen; a read returning twice one element is reported")
    func neverReadAndDuplicates() throws {
        let unread = Self.text.replacingOccurrences(of: ":type :ok, :f :read", with: ":type :info, :f :read")
        let result = try SetChecker.check(try JepsenEDNFormat.read(unread))
        #expect(result.validity == .unknown)
        #expect(result.finalRead == nil)
        #expect(result.textReport().contains("never read"))
        #expect(result.jsonReport().contains("\"error\":\"Set was never read\""))

        let twice = Self.text.replacingOccurrences(of: "#{1 3 4 5 7}", with: "[1 2 3 3 6]")
        let duplicated = try SetChecker.check(try JepsenEDNFormat.read(twice))
        #expect(duplicated.duplicated == [3])
        #expect(duplicated.validity == .valid)
    }

    @Test("an operation other than add or read, or a read of a non-collection, is an error naming it")
    func errors() throws {
        let other = Self.text.replacingOccurrences(of: ":f :add, :value 3}", with: ":f :write, :value 3}")
        let error = #expect(throws: ModelError.self) { try SetChecker.check(try JepsenEDNFormat.read(other)) }
        #expect(error?.expected == "add or read")
        #expect(error?.operation.contains("write 3") == true)
        let scalar = Self.text.replacingOccurrences(of: "#{1 3 4 5 7}", with: "7")
        let readError = #expect(throws: ModelError.self) { try SetChecker.check(try JepsenEDNFormat.read(scalar)) }
        #expect(readError?.expected.contains("set or list") == true)
    }
}
