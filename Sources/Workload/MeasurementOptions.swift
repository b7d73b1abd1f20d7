// YCSB's measurement and export properties, checked: what kvlab does for each, or a clear refusal.

/// How a run's measurements are written, from YCSB's `exporter` property.
public enum ResultExporterKind: String, Sendable, CaseIterable {
    /// `TextMeasurementsExporter` (YCSB's default): `[METRIC], measurement, value` lines.
    case text
    /// `JSONMeasurementsExporter`: one `{"metric", "measurement", "value"}` object per measurement, one after another.
    case json
    /// `JSONArrayMeasurementsExporter`: the same objects as one JSON array.
    case jsonArray

    /// The exporter named by a YCSB class name (with or without its `site.ycsb.measurements.exporter.`
    /// or `com.yahoo.ycsb.measurements.exporter.` package), or nil when kvlab has no such exporter.
    public init?(className: String) {
        let simple = className.split(separator: ".").last.map(String.init) ?? className
        switch simple {
        case "TextMeasurementsExporter": self = .text
        case "JSONMeasurementsExporter": self = .json
        case "JSONArrayMeasurementsExporter": self = .jsonArray
        default: return nil
        }
    }
}

/// The measurement properties a run honours, validated.
///
/// - `measurementtype`: `hdrhistogram` (YCSB's default in code) — kvlab records every series in an
///   HdrHistogram. `histogram` (which YCSB's own `workload_template` sets) is recorded the same way with a
///   warning that YCSB's 1 ms bucket lines and `LatencyVariance(us)` are not printed, so stock files keep
///   working; `timeseries`, `raw` and the `+` combinations are refused, naming the property and its
///   file:line, rather than silently measuring something else.
/// - `exporter`: Text (default), JSON or JSONArray measurements exporter; others are refused.
/// - `hdrhistogram.fileoutput` / `hdrhistogram.output.path`: per-interval HdrHistogram logs, one file
///   `<path><OP>.hdr` per series (YCSB's naming: the path is a prefix, not a directory).
public struct MeasurementOptions: Sendable, Equatable {
    /// `exporter`.
    public var exporter: ResultExporterKind = .text
    /// `hdrhistogram.fileoutput` (false).
    public var hdrFileOutput = false
    /// `hdrhistogram.output.path` (""): prefix of each series' `.hdr` log file.
    public var hdrOutputPath = ""
    /// What kvlab does differently from what a property asked for (added to the configuration's warnings).
    public var warnings: [String] = []

    /// YCSB's defaults.
    public init() {}

    static let supportedMeasurementTypes = ["hdrhistogram"]

    init(reader r: inout PropertyReader) throws(WorkloadError) {
        let type = try r.string("measurementtype", default: "hdrhistogram").trimmingBlanks()
        if type == "histogram" {
            warnings.append("measurementtype=histogram (\(r.source("measurementtype"))): kvlab records HdrHistograms as for "
                            + "measurementtype=hdrhistogram; YCSB's 1 ms bucket lines and LatencyVariance(us) are not printed")
        } else if !Self.supportedMeasurementTypes.contains(type) {
            throw r.bad("measurementtype", expected: "hdrhistogram (kvlab records every series as an HdrHistogram in ns; "
                        + "YCSB's timeseries, raw and the '+' combinations are not implemented — for a latency "
                        + "time series use status lines (-s) or hdrhistogram.fileoutput=true; histogram is read as hdrhistogram)")
        }
        let exporterName = try r.string("exporter", default: "site.ycsb.measurements.exporter.TextMeasurementsExporter").trimmingBlanks()
        guard let exporter = ResultExporterKind(className: exporterName) else {
            throw r.bad("exporter", expected: "site.ycsb.measurements.exporter.TextMeasurementsExporter, JSONMeasurementsExporter "
                        + "or JSONArrayMeasurementsExporter (the exporters kvlab implements)")
        }
        self.exporter = exporter
        hdrFileOutput = try r.bool("hdrhistogram.fileoutput", default: false)
        hdrOutputPath = try r.string("hdrhistogram.output.path", default: "")
    }
}
