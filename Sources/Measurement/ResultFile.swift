// kvlab's JSON result file: one document per run, with full histograms so results can be merged later.

import Foundation
import Histogram

/// Reads and writes kvlab result files.
///
/// A result file is one JSON document (UTF-8), described formally by `docs/result-schema.json`
/// (JSON Schema draft 2020-12):
///
/// - `format`: always `"kvlab-result"`; `version`: `2` (written); `1` is still read (see below).
/// - `metadata`: the run's ``RunMetadata``: `kvlabVersion`, optional `gitCommit`, `engine`,
///   `engineOptions` and `properties` (string → string objects; `properties` holds every effective
///   workload property), `threads`, optional `target` (ops/s; absent when unthrottled), `startTime`
///   (ISO-8601 UTC, e.g. `2026-04-01T12:00:00.123Z`), `machineCores`, `phase` (`"load"` or `"run"`),
///   `warmUpExcludedOperations`, `mergedFrom` (source descriptions of a merged result, else empty).
/// - `overall`: `runtimeMs` (integer), `operations` (integer; a read-modify-write counts once),
///   `throughput` (ops/s = 1000 × operations / runtimeMs), and, when measured (kvlab from issue 17 on;
///   optional, so older files still load), `threadCpuNs`: CPU nanoseconds the driver threads spent in
///   the measured part of the run, summed over threads (each thread's `CLOCK_THREAD_CPUTIME_ID`), and
///   `cpuNsPerOp` = threadCpuNs / operations, `cpuChunkOperations` (2048) and `cpuChunkNs`: the CPU
///   nanoseconds of every full chunk of that many operations, per thread, threads one after the other. CPU time excludes time a thread was preempted or stolen
///   by the hypervisor and also every wait (I/O, locks, network): a CPU-cost metric.
/// - `series`: one object per latency series, in output order: `name` (YCSB's: `READ`, `READ-FAILED`,
///   `Intended-READ`, ...), `operations`, `averageUs` (fractional µs), `minUs`, `maxUs`, `percentiles`
///   (object from the percentile as text — `"50"`, `"99.9"` — to whole µs, rounded to nearest), the same
///   in nanoseconds as `averageNs`, `minNs`, `maxNs`, `percentilesNs`, then `returns` (object from YCSB
///   status name to count) and `histogram`: every latency in NANOSECONDS as HdrHistogram's standard V2
///   compressed encoding in base64 (see ``HistogramEncoding``, layout ``LatencyHistogram``). The histogram
///   is authoritative; the other numbers are derived from it for readers without an HdrHistogram decoder,
///   and `operations` must equal its total count.
///
/// Version 1 (kvlab before nanosecond recording) had the same fields without the `*Ns` ones and a
/// histogram in whole microseconds. Reading a version-1 file converts its histograms to nanoseconds
/// (``LatencyHistogram/fromMicroseconds(_:)``), so old baselines merge and compare with new runs.
///
/// Reading checks all of this and reports the first problem as a ``ResultFileError`` naming the file,
/// the JSON path (`$.series[1].histogram`) and, for histograms, the byte offset.
public enum ResultFile {
    public static let formatName = "kvlab-result"
    public static let formatVersion = 2
    /// Versions this kvlab reads: 1 (µs histograms, converted on reading) and 2.
    public static let readableVersions = [1, 2]
    /// Percentiles written in each series' `percentiles` object.
    public static let jsonPercentiles: [Double] = [50, 90, 95, 99, 99.9, 99.99]

    /// Encodes a result as a result-file document (pretty-printed, keys sorted, trailing newline).
    public static func encode(_ result: RunResult) -> Data {
        let document = Document(
            format: formatName, version: formatVersion, metadata: result.metadata,
            overall: Overall(runtimeMs: result.runtimeMilliseconds, operations: result.operations, throughput: result.throughput,
                             threadCpuNs: result.threadCPUNanoseconds, cpuNsPerOp: result.cpuNanosecondsPerOperation,
                             cpuChunkOperations: result.cpuChunkNanoseconds == nil ? nil : RunResult.cpuChunkOperations,
                             cpuChunkNs: result.cpuChunkNanoseconds),
            series: result.series.map { series in
                let stats = LatencyStatistics(series.histogram, percentiles: jsonPercentiles)
                var percentiles: [String: UInt64] = [:]
                var percentilesNs: [String: UInt64] = [:]
                for p in stats.percentiles {
                    percentiles[percentileKey(p.percentile)] = LatencyUnits.wholeMicroseconds(p.value)
                    percentilesNs[percentileKey(p.percentile)] = p.value
                }
                return SeriesDocument(name: series.name, operations: stats.count, averageUs: stats.mean / 1000,
                                      minUs: LatencyUnits.wholeMicroseconds(stats.min), maxUs: LatencyUnits.wholeMicroseconds(stats.max),
                                      percentiles: percentiles, averageNs: stats.mean, minNs: stats.min, maxNs: stats.max,
                                      percentilesNs: percentilesNs, returns: series.returns,
                                      histogram: HistogramEncoding.encodeBase64(series.histogram))
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Every field is a plain string or number; encoding cannot fail.
        var data = try! encoder.encode(document)
        data.append(0x0A)
        return data
    }

    /// Writes a result file.
    /// - Throws: ``ResultFileError`` with reason `.unreadable` if the file cannot be written.
    public static func write(_ result: RunResult, to url: URL) throws(ResultFileError) {
        do {
            try encode(result).write(to: url, options: .atomic)
        } catch {
            throw ResultFileError(file: url.path, reason: .io("cannot write: \(error.localizedDescription)"))
        }
    }

    /// Reads a result file.
    /// - Throws: ``ResultFileError`` naming the file and what was wrong.
    public static func read(contentsOf url: URL) throws(ResultFileError) -> RunResult {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ResultFileError(file: url.path, reason: .io("cannot read: \(error.localizedDescription)"))
        }
        return try decode(data, file: url.path)
    }

    /// Decodes a result-file document.
    /// - Parameters:
    ///   - data: The file's bytes.
    ///   - file: Name used in errors.
    /// - Throws: ``ResultFileError`` naming `file`, the JSON path and what was wrong.
    public static func decode(_ data: Data, file: String) throws(ResultFileError) -> RunResult {
        // Check the envelope first, so a different kind of JSON gets a clear "not a result file".
        let envelope: Envelope
        do {
            envelope = try JSONDecoder().decode(Envelope.self, from: data)
        } catch {
            throw ResultFileError(file: file, reason: reason(for: error))
        }
        guard envelope.format == formatName else {
            throw ResultFileError(file: file, reason: .invalidField(path: "$.format",
                                                                    detail: "is '\(envelope.format ?? "missing")', expected '\(formatName)'"))
        }
        guard let version = envelope.version, readableVersions.contains(version) else {
            throw ResultFileError(file: file, reason: .invalidField(path: "$.version",
                                                                    detail: "version \(envelope.version.map(String.init) ?? "missing") is not supported (this kvlab reads \(readableVersions.map(String.init).joined(separator: " and ")))"))
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw ResultFileError(file: file, reason: reason(for: error))
        }
        var series: [SeriesResult] = []
        for (i, s) in document.series.enumerated() {
            let path = "$.series[\(i)]"
            let histogram: Histogram<UInt64>
            do {
                histogram = try HistogramEncoding.decodeBase64(s.histogram)
            } catch {
                throw ResultFileError(file: file, reason: .histogram(path: path + ".histogram", error))
            }
            guard histogram.totalCount == s.operations else {
                throw ResultFileError(file: file, reason: .invalidField(
                    path: path + ".operations",
                    detail: "series \(s.name) says \(s.operations) operations but its histogram holds \(histogram.totalCount)"))
            }
            guard histogram.numberOfSignificantValueDigits == .three, histogram.lowestDiscernibleValue == 1 else {
                throw ResultFileError(file: file, reason: .invalidField(
                    path: path + ".histogram",
                    detail: "layout (lowest \(histogram.lowestDiscernibleValue), \(histogram.numberOfSignificantValueDigits.rawValue) digits) differs from kvlab's (lowest 1, 3 digits)"))
            }
            // Version 1 recorded whole µs; everything in memory is ns.
            let nanoseconds = version == 1 ? LatencyHistogram.fromMicroseconds(histogram) : histogram
            series.append(SeriesResult(name: s.name, histogram: nanoseconds, returns: s.returns))
        }
        var result = RunResult(metadata: document.metadata, runtimeMilliseconds: document.overall.runtimeMs,
                               operations: document.overall.operations, series: series)
        result.threadCPUNanoseconds = document.overall.threadCpuNs
        if let chunks = document.overall.cpuChunkNs {
            // Chunks of another size would give a different statistic; refuse rather than mislead.
            guard document.overall.cpuChunkOperations == RunResult.cpuChunkOperations else {
                throw ResultFileError(file: file, reason: .invalidField(
                    path: "$.overall.cpuChunkOperations",
                    detail: "is \(document.overall.cpuChunkOperations.map(String.init) ?? "missing"), expected \(RunResult.cpuChunkOperations) with cpuChunkNs"))
            }
            result.cpuChunkNanoseconds = chunks
        }
        return result
    }

    /// `"50"` for whole percentiles, otherwise the shortest decimal (`"99.9"`).
    static func percentileKey(_ p: Double) -> String {
        p.rounded(.towardZero) == p && abs(p) < 1e15 ? String(Int(p)) : String(p)
    }

    static func reason(for error: any Error) -> ResultFileError.Reason {
        guard let decodingError = error as? DecodingError else { return .notJSON("\(error)") }
        func path(_ keys: [any CodingKey]) -> String {
            "$" + keys.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
        }
        switch decodingError {
        case let .dataCorrupted(context) where context.codingPath.isEmpty:
            let underlying = (context.underlyingError as NSError?).map { " (\($0.userInfo[NSDebugDescriptionErrorKey] ?? $0.localizedDescription))" } ?? ""
            return .notJSON(context.debugDescription + underlying)
        case let .dataCorrupted(context):
            return .invalidField(path: path(context.codingPath), detail: context.debugDescription)
        case let .keyNotFound(key, context):
            return .invalidField(path: path(context.codingPath + [key]), detail: "is missing")
        case let .typeMismatch(type, context):
            return .invalidField(path: path(context.codingPath), detail: "expected \(type): \(context.debugDescription)")
        case let .valueNotFound(type, context):
            return .invalidField(path: path(context.codingPath), detail: "expected \(type), found null")
        @unknown default:
            return .notJSON("\(decodingError)")
        }
    }

    // MARK: Document shape

    struct Envelope: Decodable {
        let format: String?
        let version: Int?
    }

    struct Document: Codable {
        let format: String
        let version: Int
        let metadata: RunMetadata
        let overall: Overall
        let series: [SeriesDocument]
    }

    struct Overall: Codable {
        let runtimeMs: UInt64
        let operations: UInt64
        let throughput: Double
        // Optional (absent in files of older kvlab and when not measured); nil is not encoded.
        var threadCpuNs: UInt64? = nil
        var cpuNsPerOp: Double? = nil
        var cpuChunkOperations: UInt64? = nil
        var cpuChunkNs: [UInt64]? = nil
    }

    struct SeriesDocument: Codable {
        let name: String
        let operations: UInt64
        let averageUs: Double
        let minUs: UInt64
        let maxUs: UInt64
        let percentiles: [String: UInt64]
        // Version 2 only (absent in version-1 files).
        var averageNs: Double? = nil
        var minNs: UInt64? = nil
        var maxNs: UInt64? = nil
        var percentilesNs: [String: UInt64]? = nil
        let returns: [String: UInt64]
        let histogram: String
    }
}

/// A result file that could not be read, written or understood.
public struct ResultFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Reason: Sendable, Equatable {
        /// The file could not be read or written.
        case io(String)
        /// The bytes are not a JSON document.
        case notJSON(String)
        /// A field is missing, has the wrong type or an invalid value.
        case invalidField(path: String, detail: String)
        /// A series' `histogram` is not a valid V2 compressed histogram.
        case histogram(path: String, HistogramEncodingError)
    }

    /// The file's path (or the name the caller gave).
    public let file: String
    public let reason: Reason

    public init(file: String, reason: Reason) {
        self.file = file
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case let .io(detail): "\(file): \(detail)"
        case let .notJSON(detail): "\(file): not valid JSON: \(detail)"
        case let .invalidField(path, detail): "\(file): \(path) \(detail)"
        case let .histogram(path, error): "\(file): \(path): histogram \(error)"
        }
    }
}
