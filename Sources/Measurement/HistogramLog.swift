// HdrHistogram interval logs (`.hdr`, log format 1.3), as YCSB's hdrhistogram.fileoutput writes them.

import Foundation
import Histogram

/// One interval of a histogram log: when it started (seconds after the log's base time), how long it
/// lasted, and what was recorded in it.
public struct HistogramLogInterval: Sendable, Equatable {
    public var startSeconds: Double
    public var lengthSeconds: Double
    public var histogram: Histogram<UInt64>

    public init(startSeconds: Double, lengthSeconds: Double, histogram: Histogram<UInt64>) {
        self.startSeconds = startSeconds
        self.lengthSeconds = lengthSeconds
        self.histogram = histogram
    }
}

/// The interval histograms of every series over one run (``OperationRecorder`` snapshots, merged
/// over threads), kept in the log's compressed form: a run with `hdrhistogram.fileoutput` holds one
/// per interval and series until it ends, and a full histogram takes ~270 KB of counts where its
/// compressed encoding takes a few hundred bytes (hours of 1 s intervals would otherwise take GBs).
public struct SeriesIntervals: Sendable {
    /// One series' histogram in one interval, as its log line carries it.
    public struct Encoded: Sendable, Equatable {
        /// The interval's largest value, in nanoseconds.
        public var maxNanoseconds: UInt64
        /// The histogram in the V2 compressed encoding, base64 (``HistogramEncoding``).
        public var base64: String
    }

    /// Seconds from the run's start to the interval's start and end.
    public var startSeconds: Double
    public var endSeconds: Double
    /// The interval's histograms by series, encoded.
    public var series: [SeriesKey: Encoded]

    /// Encodes every series of `snapshot` (the histograms themselves are not kept).
    public init(startSeconds: Double, endSeconds: Double, snapshot: IntervalSnapshot) {
        self.startSeconds = startSeconds
        self.endSeconds = endSeconds
        series = snapshot.series.mapValues { Encoded(maxNanoseconds: $0.max, base64: HistogramEncoding.encodeBase64($0)) }
    }
}

/// Writes and reads HdrHistogram interval logs as Java's `HistogramLogWriter` / `HistogramLogReader` do:
///
/// ```
/// #[Histogram log format version 1.3]
/// #[StartTime: 1775044800.000 (seconds since epoch), 2026-04-01T12:00:00.000Z]
/// #[BaseTime: 1775044800.000 (seconds since epoch)]
/// #[kvlab: values in nanoseconds]
/// "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
/// 0.000,10.000,1.234,HISTFAAAA...
/// ```
///
/// Timestamps are seconds after the base time (the run's start), with three decimals; `Interval_Max`
/// is the interval's maximum divided by 1 000 000 (Java's default ratio: ns to ms); the last field is
/// the interval histogram in the V2 compressed encoding, base64 (``HistogramEncoding``). Values are
/// nanoseconds — HdrHistogram's own convention, which its `HistogramLogProcessor` assumes — where
/// YCSB's logs hold microseconds (a comment line says so; readers skip `#` lines).
public enum HistogramLog {
    static let legend = "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""

    /// The log text for one series' intervals.
    public static func render(_ intervals: [HistogramLogInterval], startTime: Date) -> String {
        render(intervals.map { ($0.startSeconds, $0.lengthSeconds,
                                SeriesIntervals.Encoded(maxNanoseconds: $0.histogram.max, base64: HistogramEncoding.encodeBase64($0.histogram))) },
               startTime: startTime)
    }

    static func render(_ lines: [(start: Double, length: Double, histogram: SeriesIntervals.Encoded)], startTime: Date) -> String {
        let epoch = String(format: "%.3f", startTime.timeIntervalSince1970)
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var text = "#[Histogram log format version 1.3]\n"
        text += "#[StartTime: \(epoch) (seconds since epoch), \(iso.string(from: startTime))]\n"
        text += "#[BaseTime: \(epoch) (seconds since epoch)]\n"
        text += "#[kvlab: values in nanoseconds]\n"
        text += legend + "\n"
        for line in lines {
            text += String(format: "%.3f,%.3f,%.3f,", line.start, line.length, Double(line.histogram.maxNanoseconds) / 1_000_000)
            text += line.histogram.base64 + "\n"
        }
        return text
    }

    /// Writes `<prefix><SERIES>.hdr` for every series that appears in `intervals` (YCSB's file naming).
    /// - Returns: The paths written, in series output order.
    /// - Throws: ``ResultFileError`` naming the file that could not be written.
    public static func write(_ intervals: [SeriesIntervals], prefix: String, startTime: Date) throws(ResultFileError) -> [String] {
        var written: [String] = []
        for key in SeriesKey.outputOrder {
            let entries = intervals.compactMap { interval -> (start: Double, length: Double, histogram: SeriesIntervals.Encoded)? in
                guard let histogram = interval.series[key] else { return nil }
                return (interval.startSeconds, max(0, interval.endSeconds - interval.startSeconds), histogram)
            }
            guard !entries.isEmpty else { continue }
            let path = prefix + key.name + ".hdr"
            do {
                try Data(render(entries, startTime: startTime).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw ResultFileError(file: path, reason: .io("cannot write: \(error.localizedDescription)"))
            }
            written.append(path)
        }
        return written
    }

    /// Reads a log's intervals (comment lines and the legend skipped).
    /// - Throws: ``ResultFileError`` naming `file`, the 1-based line and what was wrong.
    public static func parse(_ text: String, file: String) throws(ResultFileError) -> [HistogramLogInterval] {
        var intervals: [HistogramLogInterval] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix("\"StartTimestamp\"") { continue }
            var fields = trimmed.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if fields.first?.hasPrefix("Tag=") == true { fields.removeFirst() }
            let place = "line \(index + 1)"
            guard fields.count == 4, let start = Double(fields[0]), let length = Double(fields[1]), Double(fields[2]) != nil else {
                throw ResultFileError(file: file, reason: .invalidField(path: place, detail: "expected start,length,max,histogram"))
            }
            do {
                intervals.append(HistogramLogInterval(startSeconds: start, lengthSeconds: length,
                                                      histogram: try HistogramEncoding.decodeBase64(fields[3])))
            } catch {
                throw ResultFileError(file: file, reason: .histogram(path: place, error))
            }
        }
        return intervals
    }
}
