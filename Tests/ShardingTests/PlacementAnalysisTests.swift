// `kvlab ring`'s analysis (balance and movement accounting) and its outputs.

import Foundation
import KVClient
import Sharding
import Testing

@Suite("placement analysis")
struct PlacementAnalysisTests {
    static let keys = (0..<20000).map { Array("user\(mix64(UInt64($0)) % 10_000_000_000)".utf8) }

    @Test("every key is counted once, a leave moves exactly the last node's keys, a join moves only keys to the new node")
    func accounting() throws {
        let rows = try PlacementAnalysis.analyze(keys: Self.keys, nodeCounts: 3...6)
        #expect(rows.count == PlacementAnalysis.defaultRouters.count * 4)
        for r in rows {
            #expect(r.perNode.reduce(0, +) == Self.keys.count)
            #expect(r.perNode.count == r.nodes)
            #expect(r.joinMovesOnlyToNewNode, "\(r.router) N=\(r.nodes)")
            // The last node's keys, and only those, move when it leaves.
            #expect(Int((r.leaveMoved * Double(r.keys)).rounded()) == r.perNode[r.nodes - 1], "\(r.router) N=\(r.nodes)")
            #expect(r.maxOverMean >= 1 && r.minOverMean <= 1)
        }
        // One virtual node balances far worse than 640.
        let one = rows.first { $0.router == "ring(xxh64, vnodes=1)" && $0.nodes == 6 }!
        let many = rows.first { $0.router == "ring(xxh64, vnodes=640)" && $0.nodes == 6 }!
        #expect(one.coefficientOfVariation > many.coefficientOfVariation)
    }

    @Test("the text, JSON and HTML outputs carry every router and an SVG chart")
    func outputs() throws {
        let rows = try PlacementAnalysis.analyze(keys: Array(Self.keys.prefix(2000)), nodeCounts: 3...4,
                                                 routers: [RouterOptions(kind: .jump), RouterOptions(kind: .slots)])
        let text = PlacementReport.text(rows)
        #expect(text.contains("jump(xxh64)") && text.contains("redis-slots(crc16)"))
        let json = try JSONSerialization.jsonObject(with: PlacementReport.json(rows, source: "test")) as? [String: Any]
        #expect((json?["rows"] as? [Any])?.count == 4)
        let html = PlacementReport.html(rows, title: "t", source: "s")
        #expect(html.contains("<svg") && html.contains("<polyline") && html.contains("jump(xxh64)"))
    }

    @Test("an empty key set or a bad node range is a typed error")
    func errors() {
        #expect(throws: PlacementAnalysisError.noKeys) { try PlacementAnalysis.analyze(keys: [], nodeCounts: 3...4) }
        #expect(throws: PlacementAnalysisError.nodeCounts(1...4)) { try PlacementAnalysis.analyze(keys: Self.keys, nodeCounts: 1...4) }
    }
}
