// YCSB's `-s` status line, built from an interval snapshot and counters the driver passes in.

import Foundation
import Histogram

/// Formats YCSB's periodic status line (its `StatusThread` with `-s`):
///
/// `2026-04-01 12:00:10:123 10 sec: 52000 operations; 5200.5 current ops/sec; est completion in 1 minute [READ: Count=2600, Max=812, Min=3, Avg=10.25, 50=9, 90=14, 99=40, 99.9=300, 99.99=812] [UPDATE: ...] `
///
/// Like YCSB master: the time is local wall-clock `yyyy-MM-dd HH:mm:ss:SSS`; seconds are whole seconds since
/// the start; current ops/sec is over this interval with `DecimalFormat("#.##")`; the completion estimate is
/// omitted when no operations remain to do (unbounded or finished) and the rate part when none were done;
/// each series block ends with a space. Nothing here reads a clock: every time is a parameter.
public enum StatusLine {
    /// Builds one status line.
    /// - Parameters:
    ///   - now: Wall-clock time to print.
    ///   - timeZone: Zone for `now` (YCSB prints local time).
    ///   - elapsedMilliseconds: Time since the run started.
    ///   - totalOperations: Operations completed since the start, over all threads.
    ///   - intervalOperations: Operations completed during this interval.
    ///   - intervalMilliseconds: Length of this interval.
    ///   - remainingOperations: Operations still to do; 0 when unbounded or done.
    ///   - snapshot: Per-series histograms of this interval, merged over threads.
    ///   - label: YCSB's `-l` label, printed first.
    /// - Returns: The line, without a newline.
    public static func format(now: Date, timeZone: TimeZone = .current, elapsedMilliseconds: UInt64,
                              totalOperations: UInt64, intervalOperations: UInt64, intervalMilliseconds: UInt64,
                              remainingOperations: UInt64, snapshot: IntervalSnapshot, label: String = "") -> String {
        var line = label + timestamp(now, timeZone: timeZone) + " \(elapsedMilliseconds / 1000) sec: "
        line += "\(totalOperations) operations; "
        if totalOperations != 0 {
            let current = intervalMilliseconds == 0 ? 0 : 1000.0 * Double(intervalOperations) / Double(intervalMilliseconds)
            line += JavaFormatting.decimalFormatTwoPlaces(current) + " current ops/sec; "
        }
        if remainingOperations != 0 {
            let throughput = elapsedMilliseconds == 0 ? 0 : 1000.0 * Double(totalOperations) / Double(elapsedMilliseconds)
            let seconds = throughput > 0 ? UInt64((Double(remainingOperations) / throughput).rounded(.up)) : 0
            line += "est completion in " + remainingTime(seconds: seconds)
        }
        for key in SeriesKey.outputOrder {
            guard let histogram = snapshot.series[key] else { continue }
            line += summary(name: key.name, histogram) + " "
        }
        return line
    }

    /// One series' bracketed interval summary, as YCSB's `OneMeasurementHdrHistogram.getSummary()`.
    public static func summary(name: String, _ histogram: Histogram<UInt64>) -> String {
        // The histogram is in ns; YCSB's summary is in µs (whole, the average with two decimals).
        let stats = LatencyStatistics(histogram, percentiles: [50, 90, 99, 99.9, 99.99])
        let p = stats.percentiles.map { String(LatencyUnits.wholeMicroseconds($0.value)) }
        let max = LatencyUnits.wholeMicroseconds(stats.max), min = LatencyUnits.wholeMicroseconds(stats.min)
        return "[\(name): Count=\(stats.count), Max=\(max), Min=\(min), "
            + "Avg=\(JavaFormatting.decimalFormatTwoPlaces(stats.mean / 1000)), 50=\(p[0]), 90=\(p[1]), 99=\(p[2]), "
            + "99.9=\(p[3]), 99.99=\(p[4])]"
    }

    /// `yyyy-MM-dd HH:mm:ss:SSS` (Java SimpleDateFormat), in the given zone.
    public static func timestamp(_ date: Date, timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        // Whole milliseconds since the epoch, as Java's Date holds them.
        let epochMillis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = epochMillis >= 0 ? epochMillis / 1000 : (epochMillis - 999) / 1000
        let millis = Int(epochMillis - seconds * 1000)
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second],
                                        from: Date(timeIntervalSince1970: TimeInterval(seconds)))
        func pad(_ v: Int?, _ width: Int) -> String {
            let s = String(v ?? 0)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2)) \(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)):\(pad(millis, 3))"
    }

    /// YCSB's `RemainingFormatter`: days, hours, minutes (minutes only under a day), and seconds only when nothing
    /// else was printed; each part followed by a space. (YCSB always says "seconds", even for 1; so does this.)
    public static func remainingTime(seconds total: UInt64) -> String {
        var seconds = total
        var text = ""
        let days = seconds / 86_400
        if days > 0 {
            text += "\(days)" + (days == 1 ? " day " : " days ")
            seconds -= days * 86_400
        }
        let hours = seconds / 3600
        if hours > 0 {
            text += "\(hours)" + (hours == 1 ? " hour " : " hours ")
            seconds -= hours * 3600
        }
        if days < 1 {
            let minutes = seconds / 60
            if minutes > 0 {
                text += "\(minutes)" + (minutes == 1 ? " minute " : " minutes ")
                seconds -= minutes * 60
            }
        }
        if text.isEmpty { text = "\(seconds) seconds " }
        return text
    }
}
