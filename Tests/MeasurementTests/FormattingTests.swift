// Java number formatting, ordinals, YCSB text lines and status lines.

import Foundation
import Testing
@testable import Measurement

@Suite struct FormattingTests {
    @Test("doubles are formatted as Java's Double.toString", arguments: [
        (0.0, "0.0"), (-0.0, "-0.0"), (1.0, "1.0"), (1234.5, "1234.5"), (100.0, "100.0"), (0.001, "0.001"),
        (0.0001, "1.0E-4"), (1.2345e-5, "1.2345E-5"), (9_999_999.0, "9999999.0"), (10_000_000.0, "1.0E7"),
        (12_345_678.9, "1.23456789E7"), (98911.96834817014, "98911.96834817014"), (1234.5678, "1234.5678"), (0.1, "0.1"), (1e21, "1.0E21"),
        (-2.5, "-2.5"), (123.0e10, "1.23E12"), (50.5, "50.5"), (Double.nan, "NaN"), (Double.infinity, "Infinity"),
    ])
    func javaDoubles(value: Double, expected: String) {
        #expect(JavaFormatting.doubleToString(value) == expected)
    }

    @Test("status-line numbers are formatted as Java's DecimalFormat(\"#.##\")", arguments: [
        (0.0, "0"), (0.5, ".5"), (1.0, "1"), (10.256, "10.26"), (10.245, "10.24"), (1234.5, "1234.5"),
        (0.001, "0"), (99.999, "100"), (12345678.0, "12345678"),
    ])
    func decimalFormat(value: Double, expected: String) {
        #expect(JavaFormatting.decimalFormatTwoPlaces(value) == expected)
    }

    @Test("percentile names are YCSB's ordinals, or the raw number when fractional", arguments: [
        (1.0, "1st"), (2.0, "2nd"), (3.0, "3rd"), (4.0, "4th"), (11.0, "11th"), (12.0, "12th"), (13.0, "13th"),
        (21.0, "21st"), (22.0, "22nd"), (50.0, "50th"), (95.0, "95th"), (99.0, "99th"), (100.0, "100th"),
        (111.0, "111th"), (99.9, "99.9"), (99.99, "99.99"), (0.0, "0th"),
    ])
    func ordinals(value: Double, expected: String) {
        #expect(JavaFormatting.percentileOrdinal(value) == expected)
    }

    func smallResult() -> RunResult {
        var recorder = OperationRecorder()
        for v in 1...100 { recorder.record(series: .read, nanos: UInt64(v) * 1000, status: .ok) }
        recorder.record(series: .update, nanos: 5_000_000, status: .ok)
        recorder.record(series: .update, nanos: 3_000, status: .error)
        return RunResult(metadata: Fixtures.metadata(), runtimeMilliseconds: 2000, operations: 102, recorders: [recorder])
    }

    @Test("the text output is exactly YCSB's lines for a small known run")
    func exactLines() {
        let lines = YCSBTextExporter(percentiles: [50, 95, 99]).lines(for: smallResult())
        #expect(lines == [
            "[OVERALL], RunTime(ms), 2000",
            "[OVERALL], Throughput(ops/sec), 51.0",
            "[READ], Operations, 100",
            // Recorded in ns: the mean is over ns buckets (3 significant digits), hence not exactly 50.5.
            "[READ], AverageLatency(us), 50.503620000000005",
            "[READ], MinLatency(us), 1",
            "[READ], MaxLatency(us), 100",
            "[READ], 50thPercentileLatency(us), 50",
            "[READ], 95thPercentileLatency(us), 95",
            "[READ], 99thPercentileLatency(us), 99",
            "[READ], Return=OK, 100",
            "[UPDATE], Operations, 1",
            // 5 ms in ns lies in a 4096 ns wide bucket [4_997_120, 5_001_216): its ends, rounded to µs.
            "[UPDATE], AverageLatency(us), 4999.168",
            "[UPDATE], MinLatency(us), 4997",
            "[UPDATE], MaxLatency(us), 5001",
            "[UPDATE], 50thPercentileLatency(us), 5001",
            "[UPDATE], 95thPercentileLatency(us), 5001",
            "[UPDATE], 99thPercentileLatency(us), 5001",
            "[UPDATE], Return=OK, 1",
            "[UPDATE], Return=ERROR, 1",
            "[UPDATE-FAILED], Operations, 1",
            "[UPDATE-FAILED], AverageLatency(us), 3.001",
            "[UPDATE-FAILED], MinLatency(us), 3",
            "[UPDATE-FAILED], MaxLatency(us), 3",
            "[UPDATE-FAILED], 50thPercentileLatency(us), 3",
            "[UPDATE-FAILED], 95thPercentileLatency(us), 3",
            "[UPDATE-FAILED], 99thPercentileLatency(us), 3",
        ])
    }

    @Test("every text line has YCSB's shape, with configured and fractional percentiles")
    func lineShape() throws {
        let percentiles = try YCSBTextExporter.parsePercentiles("1, 2,3,11,21,50,99.9,99.99")
        let result = Fixtures.result(seed: 7, count: 5000, runtimeMs: 1)
        let text = YCSBTextExporter(percentiles: percentiles).render(result)
        let shape = try Regex(#"^\[[A-Za-z0-9_\-]+\], [^,]+, -?[0-9.E]+$"#)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2 + 2 * (4 + 8 + 1))
        for line in lines { #expect(line.wholeMatch(of: shape) != nil, "\(line)") }
        #expect(text.contains("[READ], 99.9PercentileLatency(us), "))
        #expect(text.contains("[UPDATE], 21stPercentileLatency(us), "))
        #expect(text.contains("[OVERALL], Throughput(ops/sec), 5000000.0\n"))
        #expect(!text.contains("GC"))
    }

    @Test("a bad percentile list names the bad element")
    func badPercentiles() {
        #expect(throws: PercentileListError(list: "50,abc", element: "abc")) {
            try YCSBTextExporter.parsePercentiles("50,abc")
        }
        #expect(throws: PercentileListError.self) { try YCSBTextExporter.parsePercentiles("101") }
    }

    @Test("a status line has YCSB's layout for a known interval")
    func statusLine() throws {
        var recorder = OperationRecorder()
        for v in 1...100 { recorder.record(series: .read, nanos: UInt64(v) * 1000, status: .ok) }
        recorder.record(series: .update, nanos: 1_000, status: .ok)
        let snapshot = recorder.takeIntervalSnapshot()
        let now = Date(timeIntervalSince1970: 1_775_044_810.123)  // 2026-04-01 12:00:10.123 UTC
        let line = StatusLine.format(now: now, timeZone: TimeZone(identifier: "UTC")!, elapsedMilliseconds: 10_000,
                                     totalOperations: 101, intervalOperations: 101, intervalMilliseconds: 10_000,
                                     remainingOperations: 899, snapshot: snapshot)
        #expect(line == "2026-04-01 12:00:10:123 10 sec: 101 operations; 10.1 current ops/sec; est completion in 1 minute "
            + "[READ: Count=100, Max=100, Min=1, Avg=50.5, 50=50, 90=90, 99=99, 99.9=100, 99.99=100] "
            + "[UPDATE: Count=1, Max=1, Min=1, Avg=1, 50=1, 90=1, 99=1, 99.9=1, 99.99=1] ")
        let idle = StatusLine.format(now: now, timeZone: TimeZone(identifier: "UTC")!, elapsedMilliseconds: 500,
                                     totalOperations: 0, intervalOperations: 0, intervalMilliseconds: 500,
                                     remainingOperations: 0, snapshot: IntervalSnapshot())
        #expect(idle == "2026-04-01 12:00:10:123 0 sec: 0 operations; ")
    }

    @Test("remaining time reads like YCSB's RemainingFormatter", arguments: [
        (0 as UInt64, "0 seconds "), (1, "1 seconds "), (59, "59 seconds "), (60, "1 minute "), (3599, "59 minutes "),
        (3600, "1 hour "), (7260, "2 hours 1 minute "), (86_400, "1 day "), (90_061, "1 day 1 hour "),
    ])
    func remaining(seconds: UInt64, expected: String) {
        #expect(StatusLine.remainingTime(seconds: seconds) == expected)
    }
}
