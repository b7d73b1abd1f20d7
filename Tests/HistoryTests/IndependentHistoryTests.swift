// Jepsen `independent` histories: detection, splitting per key, and the warning when one is checked whole.

import Foundation
import History
import Testing

@Suite("Jepsen independent histories")
struct IndependentHistoryTests {
    /// Two registers, 1 and 2, as `jepsen.independent` writes them: every value a [key value]
    /// tuple, cas values [key [old new]], reads invoked with [key nil].
    static let text = """
    [{:process 0, :type :invoke, :f :write, :value [1 3], :time 100}
     {:process 1, :type :invoke, :f :read, :value [2 nil], :time 110}
     {:process 0, :type :ok, :f :write, :value [1 3], :time 200}
     {:process 1, :type :ok, :f :read, :value [2 nil], :time 210}
     {:process 2, :type :invoke, :f :cas, :value [1 [3 4]], :time 300}
     {:process 2, :type :ok, :f :cas, :value [1 [3 4]], :time 400}
     {:process 0, :type :invoke, :f :read, :value [1 nil], :time 500}
     {:process 0, :type :ok, :f :read, :value [1 4], :time 600}
     {:process 1, :type :invoke, :f :write, :value [2 7], :time 700}
     {:process 1, :type :info, :f :write, :value [2 7], :time 800}]
    """

    @Test("a Jepsen independent EDN history is detected and split into keyed operations, ids and positions kept")
    func detectAndSplit() throws {
        let operations = try JepsenEDNFormat.read(Self.text).operations()
        let detection = JepsenIndependent.detect(operations)
        #expect(detection.isIndependent)
        #expect(detection.tupleOperations == 5 && detection.otherOperations == 0 && detection.keys == 2)
        let split = try JepsenIndependent.split(operations)
        #expect(split.map(\.key) == [.integer(1), .integer(2), .integer(1), .integer(1), .integer(2)])
        #expect(split[0].input == .integer(3) && split[0].output == .integer(3))
        #expect(split[1].input == .null && split[1].output == .null)           // read of 2 -> nil
        #expect(split[2].input == .list([.integer(3), .integer(4)]))          // cas [old new]
        #expect(split[3].output == .integer(4))                               // read of 1 -> 4
        #expect(split[4].outcome == .unknown && split[4].input == .integer(7)) // the info write
        #expect(split.map(\.id) == operations.map(\.id))
        #expect(split.map(\.invokePosition) == operations.map(\.invokePosition))
        #expect(split[3].invokeTime == 500 && split[3].returnTime == 600)
    }

    @Test("a cas register whose cas values are pairs is not mistaken for an independent history")
    func casRegisterIsNotIndependent() throws {
        let text = """
        [{:process 0, :type :invoke, :f :write, :value 1}
         {:process 0, :type :ok, :f :write, :value 1}
         {:process 1, :type :invoke, :f :cas, :value [1 2]}
         {:process 1, :type :ok, :f :cas, :value [1 2]}
         {:process 0, :type :invoke, :f :read, :value nil}
         {:process 0, :type :ok, :f :read, :value 2}]
        """
        let detection = JepsenIndependent.detect(try JepsenEDNFormat.read(text).operations())
        #expect(!detection.isIndependent && !detection.isPartlyIndependent)
        #expect(detection.tupleOperations == 0 && detection.otherOperations == 3)
        #expect(detection.warning(split: false) == nil)
    }

    @Test("a cas register history of cas operations only is not split by its old values")
    func casOnlyRegisterIsNotIndependent() throws {
        let text = """
        [{:process 0, :type :invoke, :f :cas, :value [0 1]}
         {:process 0, :type :ok, :f :cas, :value [0 1]}
         {:process 1, :type :invoke, :f :cas, :value [1 2]}
         {:process 1, :type :ok, :f :cas, :value [1 2]}]
        """
        let detection = JepsenIndependent.detect(try JepsenEDNFormat.read(text).operations())
        #expect(!detection.isIndependent)
        #expect(detection.tupleOperations == 0)
    }

    @Test("an operation that is not a [key value] tuple stops the split with its line; a completion naming another key too")
    func malformedTuple() throws {
        var text = Self.text.replacingOccurrences(of: ":value [1 nil], :time 500", with: ":value 5, :time 500")
        text = text.replacingOccurrences(of: ":value [1 4], :time 600", with: ":value 4, :time 600")
        let operations = try JepsenEDNFormat.read(text).operations()
        #expect(JepsenIndependent.detect(operations).isPartlyIndependent)
        let error = #expect(throws: HistoryError.self) { try JepsenIndependent.split(operations) }
        #expect(error?.line == 7)
        #expect(error?.expected.contains("[key value] tuple") == true)

        let otherKey = Self.text.replacingOccurrences(of: ":value [1 4], :time 600", with: ":value [2 4], :time 600")
        let mixed = try JepsenEDNFormat.read(otherKey).operations()
        #expect(!JepsenIndependent.detect(mixed).isIndependent)
        #expect(throws: HistoryError.self) { try JepsenIndependent.split(mixed) }
    }

    @Test("a history that looks independent but is checked as one object gets a warning naming the risk")
    func warningWhenCheckedWhole() throws {
        let detection = JepsenIndependent.detect(try JepsenEDNFormat.read(Self.text).operations())
        let warning = try #require(detection.warning(split: false))
        #expect(warning.contains("5 of 5 operations"))
        #expect(warning.contains("2 keys"))
        #expect(warning.contains("false violations"))
        #expect(detection.warning(split: true) == nil)

        let partly = Self.text.replacingOccurrences(of: ":value [2 7], :time 700", with: ":value 7, :time 700")
            .replacingOccurrences(of: ":value [2 7], :time 800", with: ":value 7, :time 800")
        let partial = JepsenIndependent.detect(try JepsenEDNFormat.read(partly).operations())
        let partialWarning = try #require(partial.warning(split: false))
        #expect(partialWarning.contains("4 of 5 operations") && partialWarning.contains("p1 write 7"))
    }
}
