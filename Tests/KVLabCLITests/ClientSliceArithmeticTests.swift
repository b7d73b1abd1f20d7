// --client I/N slicing: the N load slices tile [insertstart, insertstart+insertcount) exactly, even for counts whose product with N overflows Int64.

import ArgumentParser
@testable import KVLabCLI
import Testing
import Workload

@Suite("client slice arithmetic")
struct ClientSliceArithmeticTests {
    /// The (insertstart, insertcount) of every client's load slice.
    static func slices(_ properties: [String: String], count n: Int) throws -> [(Int64, Int64)] {
        try (0..<n).map { i in
            let options = try ClientSliceOptions.parse(["--client", "\(i)/\(n)"])
            let sliced = try CoreWorkloadConfiguration(properties: try options.applied(to: WorkloadProperties(properties), phase: "load"))
            return (sliced.insertStart, sliced.insertCount)
        }
    }

    @Test("load slices leave no gap and no overlap, with remainders and with counts near Int64.max")
    func tiling() throws {
        for (start, count, n) in [(Int64(5), Int64(10), 3), (0, 7, 7), (3, 2, 4),
                                  (0, Int64.max / 2, 101), (10, Int64.max - 10, 97)] {
            let properties = ["recordcount": String(start + count), "insertstart": String(start), "insertcount": String(count)]
            let parts = try Self.slices(properties, count: n)
            var next = start
            for (s, c) in parts {
                #expect(s == next, "slice starts at \(s), expected \(next) (start \(start) count \(count) N \(n))")
                #expect(c >= 0)
                next = s + c
            }
            #expect(next == start + count)
        }
    }

    @Test("a bad --client names the bound it breaks, including the cap on N")
    func badClientMessages() {
        for bad in ["0/0", "3/3", "-1/2", "1/1000000000", "a/b", "1", "0/1/2"] {
            #expect {
                _ = try ClientSliceOptions.parse(["--client=\(bad)"])
            } throws: { error in
                let message = ClientSliceOptions.message(for: error)
                return message.contains("--client \(bad)") && message.contains("N ≤ 1000000")
            }
        }
        #expect(throws: Never.self) { _ = try ClientSliceOptions.parse(["--client", "999999/1000000"]) }
    }
}
