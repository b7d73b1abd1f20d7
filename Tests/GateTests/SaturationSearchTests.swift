// Saturation search against a queueing model whose knee is known, and objective parsing.

import Testing
@testable import Gate

@Suite("Saturation search")
struct SaturationSearchTests {
    /// An M/M/1-like store: capacity 100k ops/s, tail latency 10 µs / (1 − utilisation).
    static func model(_ rate: Double) -> SaturationStep {
        let capacity = 100_000.0
        guard rate > 0 else { return SaturationStep(targetRate: 0, throughput: capacity, p50Microseconds: 3, tailMicroseconds: 10) }
        let utilisation = Swift.min(rate, capacity * 0.999) / capacity
        return SaturationStep(targetRate: rate, throughput: Swift.min(rate, capacity),
                              p50Microseconds: 3 / (1 - utilisation), tailMicroseconds: 10 / (1 - utilisation))
    }

    @Test("bisection finds the knee of a known model within its resolution, from below")
    func findsKnee() throws {
        // 10 / (1 − r/C) ≤ 200 holds up to r = 0.95 C = 95 000 ops/s.
        let outcome = try SaturationSearch(objective: LatencyObjective(percentile: 99, limitMicroseconds: 200)).run(Self.model)
        let knee = try #require(outcome.knee)
        #expect(knee.targetRate <= 95_000)
        #expect(knee.targetRate >= 95_000 * 0.95)
        #expect(outcome.curve.count <= 8)
        #expect(outcome.curve.map(\.targetRate) == outcome.curve.map(\.targetRate).sorted())
        #expect(outcome.curve.contains { !$0.meetsObjective })
        #expect(outcome.textTable().contains("knee: "))
    }

    @Test("a step that cannot keep up with its target fails even with low latency")
    func fallingBehindFails() throws {
        // Unthrottled runs reach 50k ops/s, but paced runs top out at 40k (say, pacing overhead).
        let outcome = try SaturationSearch(objective: LatencyObjective(percentile: 99, limitMicroseconds: 1_000_000)).run { rate in
            SaturationStep(targetRate: rate, throughput: rate == 0 ? 50_000 : Swift.min(rate, 40_000), p50Microseconds: 1, tailMicroseconds: 1)
        }
        let knee = try #require(outcome.knee)
        #expect(knee.targetRate <= 40_000 / 0.95)
        #expect(knee.targetRate >= 40_000 * 0.9)
        #expect(outcome.curve.contains { $0.targetRate > 40_000 / 0.95 && !$0.meetsObjective })
    }

    @Test("an objective no rate meets reports no knee")
    func noKnee() throws {
        let outcome = try SaturationSearch(objective: LatencyObjective(percentile: 99, limitMicroseconds: 1)).run(Self.model)
        #expect(outcome.knee == nil)
        #expect(outcome.textTable().contains("knee: none"))
    }

    @Test("objectives parse with units, and malformed ones are refused")
    func parsing() throws {
        #expect(try LatencyObjective.parse("p99=2ms") == LatencyObjective(percentile: 99, limitMicroseconds: 2000))
        #expect(try LatencyObjective.parse("p99.9=500us") == LatencyObjective(percentile: 99.9, limitMicroseconds: 500))
        #expect(try LatencyObjective.parse("p50=1.5s") == LatencyObjective(percentile: 50, limitMicroseconds: 1_500_000))
        for bad in ["99=2ms", "p99=2", "p100=1ms", "p99=-1ms", "p99"] {
            #expect(throws: SaturationError.invalidObjective(bad)) { try LatencyObjective.parse(bad) }
        }
    }

    @Test("the curve chart has the objective line and axis units")
    func chart() throws {
        let outcome = try SaturationSearch(objective: LatencyObjective(percentile: 99, limitMicroseconds: 200)).run(Self.model)
        let svg = try outcome.chart()
        #expect(svg.contains("target rate (ops/s)"))
        #expect(svg.contains("intended latency (µs)"))
        #expect(svg.contains("objective"))
    }
}
