// YCSB's text result format, line for line.

import Foundation

/// Writes a result in YCSB's text format (`TextMeasurementsExporter` over `OneMeasurementHdrHistogram`):
///
/// ```
/// [OVERALL], RunTime(ms), 10110
/// [OVERALL], Throughput(ops/sec), 98911.96834817013
/// [READ], Operations, 500212
/// [READ], AverageLatency(us), 5.38
/// [READ], MinLatency(us), 1
/// [READ], MaxLatency(us), 1234
/// [READ], 50thPercentileLatency(us), 4
/// [READ], 95thPercentileLatency(us), 9
/// [READ], 99thPercentileLatency(us), 21
/// [READ], Return=OK, 500212
/// ```
///
/// Doubles are written as Java's `Double.toString`, integers plainly. Series come in a fixed order
/// (each operation, then its `-FAILED` series; `Intended-*` last), where YCSB's order is a hash map's.
/// There are no `[TOTAL_GCS_*]`/`[TOTAL_GC_TIME*]` lines: kvlab is not a JVM and has no garbage collector to report.
public struct YCSBTextExporter: Sendable {
    /// Percentiles printed per series (YCSB's `hdrhistogram.percentiles`).
    public var percentiles: [Double]

    /// YCSB's default `hdrhistogram.percentiles`, "95,99", as in its last release (0.17.0) and the C++ port;
    /// YCSB master later added 50. Set `hdrhistogram.percentiles=50,95,99` for master's lines.
    public static let defaultPercentiles: [Double] = [95, 99]

    /// - Parameter percentiles: Percentiles to print, 0...100, in the order given.
    public init(percentiles: [Double] = YCSBTextExporter.defaultPercentiles) {
        self.percentiles = percentiles
    }

    /// Parses `hdrhistogram.percentiles`, a comma-separated list such as `50,95,99,99.9`.
    /// - Throws: ``PercentileListError`` naming the bad element.
    public static func parsePercentiles(_ text: String) throws(PercentileListError) -> [Double] {
        var result: [Double] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingCharacters(in: .whitespaces)
            guard let p = Double(item), p.isFinite, (0...100).contains(p) else {
                throw PercentileListError(list: text, element: String(part))
            }
            result.append(p)
        }
        return result
    }

    /// One YCSB measurement: `[metric], measurement, value`, the value already formatted as YCSB prints it
    /// (a Java long or `Double.toString`), which is also a valid JSON number.
    public struct Measurement: Sendable, Equatable {
        public let metric: String
        public let measurement: String
        public let value: String
    }

    /// Every measurement of the result in YCSB's order, as the text and JSON exporters write them.
    public func measurements(for result: RunResult) -> [Measurement] {
        var out = [
            Measurement(metric: "OVERALL", measurement: "RunTime(ms)", value: String(result.runtimeMilliseconds)),
            Measurement(metric: "OVERALL", measurement: "Throughput(ops/sec)", value: JavaFormatting.doubleToString(result.throughput)),
        ]
        for series in result.series {
            let stats = LatencyStatistics(series.histogram, percentiles: percentiles)
            func add(_ measurement: String, _ value: String) { out.append(Measurement(metric: series.name, measurement: measurement, value: value)) }
            add("Operations", String(stats.count))
            // Recorded in ns; YCSB's fields are µs: the average keeps its fraction, the rest are whole µs.
            add("AverageLatency(us)", JavaFormatting.doubleToString(stats.mean / 1000))
            add("MinLatency(us)", String(LatencyUnits.wholeMicroseconds(stats.min)))
            add("MaxLatency(us)", String(LatencyUnits.wholeMicroseconds(stats.max)))
            for p in stats.percentiles {
                add(JavaFormatting.percentileOrdinal(p.percentile) + "PercentileLatency(us)", String(LatencyUnits.wholeMicroseconds(p.value)))
            }
            for (status, count) in series.orderedReturns { add("Return=" + status, String(count)) }
        }
        return out
    }

    /// The result as YCSB's lines, without newlines.
    public func lines(for result: RunResult) -> [String] {
        measurements(for: result).map { "[\($0.metric)], \($0.measurement), \($0.value)" }
    }

    /// The result as YCSB's `JSONArrayMeasurementsExporter` writes it (`array: true`): one JSON array of
    /// `{"metric": ..., "measurement": ..., "value": ...}` objects; or as `JSONMeasurementsExporter`
    /// (`array: false`): the same objects one after another, which is not one JSON document (YCSB's shape).
    public func renderJSON(_ result: RunResult, array: Bool) -> String {
        let objects = measurements(for: result).map { m in
            "{\n  \"metric\" : \(Self.jsonString(m.metric)),\n  \"measurement\" : \(Self.jsonString(m.measurement)),\n  \"value\" : \(m.value)\n}"
        }
        return array ? "[ " + objects.joined(separator: ", ") + " ]\n" : objects.joined(separator: "\n") + "\n"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// The result as YCSB's text, one line per measurement, each ending in a newline.
    public func render(_ result: RunResult) -> String {
        lines(for: result).map { $0 + "\n" }.joined()
    }
}

/// A bad `hdrhistogram.percentiles` value.
public struct PercentileListError: Error, Sendable, Equatable, CustomStringConvertible {
    public let list: String
    public let element: String
    public var description: String {
        "hdrhistogram.percentiles '\(list)': '\(element)' is not a number in 0...100"
    }
}
