// YCSB measurement properties: exporters, refused measurement types, HdrHistogram interval logs, insert retries.

import Driver
import Foundation
import KVCore
import KVEngines
import Measurement
import Synchronization
import Testing
import Workload

/// A fake store whose inserts fail the first `failures` attempts for every key, on a virtual clock.
final class FlakyInsertTarget: DriverTarget, @unchecked Sendable {
    let clock: PerThreadVirtualClock
    let failures: Int
    let attempts = Mutex<[Int64: Int]>([:])
    /// Virtual times of the first and last insert attempt (the driver thread's own timeline).
    let span = Mutex<(first: UInt64?, last: UInt64)>((nil, 0))
    init(clock: PerThreadVirtualClock, failures: Int) { self.clock = clock; self.failures = failures }
    var description: String { "flaky fake store" }
    var supportsOrderedScan: Bool { true }
    func makeSession(thread: Int) throws(DriverError) -> any TargetSession { Session(target: self) }

    final class Session: TargetSession {
        let target: FlakyInsertTarget
        init(target: FlakyInsertTarget) { self.target = target }
        func read(_ operation: PlannedOperation, verifier: RecordVerifier?) -> OperationStatus { .ok }
        func update(_ operation: PlannedOperation) -> OperationStatus { .ok }
        func insert(_ operation: PlannedOperation) -> OperationStatus {
            let now = target.clock.nanoseconds()
            target.span.withLock { if $0.first == nil { $0.first = now }; $0.last = now }
            target.clock.spend(1_000)
            let attempt = target.attempts.withLock { counts in
                counts[operation.keyNumber, default: 0] += 1
                return counts[operation.keyNumber]!
            }
            return attempt > target.failures ? .ok : .error
        }
        func scan(_ operation: PlannedOperation) -> OperationStatus { .ok }
        func delete(_ operation: PlannedOperation) -> OperationStatus { .ok }
        func close() {}
    }
}

func configuration(_ properties: [String: String]) throws -> CoreWorkloadConfiguration {
    try CoreWorkloadConfiguration(properties: WorkloadProperties(properties))
}

@Suite("Measurement properties")
struct MeasurementPropertiesTests {
    @Test("unsupported measurementtype and exporter values are refused naming the file line and what kvlab supports")
    func refusals() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-mp-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("w").path
        for (line, expected) in [("measurementtype=timeseries", "w:2: measurementtype=timeseries: expected hdrhistogram"),
                                 ("measurementtype=raw", "w:2: measurementtype=raw: expected hdrhistogram"),
                                 ("measurementtype=hdrhistogram+histogram", "measurementtype=hdrhistogram+histogram: expected hdrhistogram"),
                                 ("exporter=site.ycsb.measurements.exporter.CSVExporter", "w:2: exporter=site.ycsb.measurements.exporter.CSVExporter: expected site.ycsb.measurements.exporter.TextMeasurementsExporter")] {
            try "recordcount=10\n\(line)\n".write(toFile: file, atomically: true, encoding: .utf8)
            do {
                _ = try CoreWorkloadConfiguration.load(files: [file], overrides: [])
                Issue.record("\(line) was accepted")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
        #expect(try configuration(["exporter": "site.ycsb.measurements.exporter.JSONArrayMeasurementsExporter"]).measurement.exporter == .jsonArray)
        #expect(try configuration(["exporter": "com.yahoo.ycsb.measurements.exporter.JSONMeasurementsExporter"]).measurement.exporter == .json)
        #expect(try configuration([:]).measurement == MeasurementOptions())
        #expect(try configuration(["measurementtype": "histogram"]).warnings.first?.contains("kvlab records HdrHistograms") == true)
    }

    @Test("the JSON array exporter writes YCSB's metric, measurement, value objects as one array")
    func jsonArrayExport() throws {
        var recorder = OperationRecorder()
        for nanos: UInt64 in [900, 1_100, 2_000_000] { recorder.record(series: .read, nanos: nanos, status: .ok) }
        let result = RunResult(metadata: RunMetadata(kvlabVersion: "t", engine: "t", threads: 1, startTime: Date(), machineCores: 1, phase: .run),
                               runtimeMilliseconds: 1000, operations: 3, recorders: [recorder])
        let exporter = YCSBTextExporter()
        let text = exporter.renderJSON(result, array: true)
        let array = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        let fromText = exporter.lines(for: result)
        #expect(array.count == fromText.count)
        for (object, line) in zip(array, fromText) {
            let metric = try #require(object["metric"] as? String), measurement = try #require(object["measurement"] as? String)
            let value = try #require(object["value"] as? NSNumber)
            #expect(line.hasPrefix("[\(metric)], \(measurement), "))
            #expect(Double(line.split(separator: ",").last!.trimmingCharacters(in: .whitespaces)) == value.doubleValue)
        }
        #expect(array.contains { $0["metric"] as? String == "READ" && $0["measurement"] as? String == "99thPercentileLatency(us)" })
        // The non-array form is YCSB's run of objects: not one JSON document, but each object parses.
        let objects = exporter.renderJSON(result, array: false).components(separatedBy: "}\n{")
        #expect(objects.count == fromText.count)
    }

    @Test("hdrhistogram.fileoutput writes one interval log per series that decodes to the run's own histograms")
    func hdrIntervalLogs() throws {
        let engine = try StandardEngines.registry.open("hash")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kvlab-hdr-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.path + "/run-"
        let c = try configuration(["recordcount": "200", "operationcount": "3000", "readproportion": "0.5", "updateproportion": "0.5",
                                   "hdrhistogram.fileoutput": "true", "hdrhistogram.output.path": prefix, "status.interval": "0.01"])
        let outcome = try loadAndRun(c, engine: engine)
        #expect(!outcome.intervalLogs.isEmpty)
        let files = try HistogramLog.write(outcome.intervalLogs, prefix: prefix, startTime: outcome.result.metadata.startTime)
        #expect(files == [prefix + "READ.hdr", prefix + "UPDATE.hdr"])
        for series in outcome.result.series {
            let text = try String(contentsOfFile: prefix + series.name + ".hdr", encoding: .utf8)
            #expect(text.hasPrefix("#[Histogram log format version 1.3]\n#[StartTime: "))
            let intervals = try HistogramLog.parse(text, file: series.name)
            #expect(!intervals.isEmpty)
            // Intervals follow each other and together hold exactly the run's histogram (no warm-up here).
            var total = LatencyHistogram.make()
            var previousEnd = 0.0
            for interval in intervals {
                #expect(interval.startSeconds >= previousEnd - 0.0011)
                previousEnd = interval.startSeconds + interval.lengthSeconds
                total.add(interval.histogram)
            }
            #expect(total == series.histogram, "\(series.name)")
        }
    }

    @Test("a failed load insert is retried core_workload_insertion_retry_limit times after pauses of 0.8 to 1.2 intervals")
    func insertionRetries() throws {
        for (limit, failures) in [(3, 2), (1, 2)] {
            let clock = PerThreadVirtualClock()
            let target = FlakyInsertTarget(clock: clock, failures: failures)
            let c = try configuration(["recordcount": "5", "core_workload_insertion_retry_limit": String(limit),
                                       "core_workload_insertion_retry_interval": "2"])
            let driver = Driver(workload: try CoreWorkload(configuration: c), target: target,
                                configuration: DriverConfiguration(phase: .load, workload: c), clock: clock)
            let result = try driver.run(metadata: metadata(.load)).result
            let span = target.span.withLock { $0 }
            let elapsed = Double(span.last - (span.first ?? 0)) / 1e9
            let insert = try #require(result.series(named: "INSERT"))
            #expect(result.operations == 5)
            if limit >= failures {
                // Every key: two failed attempts, each recorded, then a success.
                #expect(insert.returns == ["OK": 5, "ERROR": 10])
                #expect(result.series(named: "INSERT-FAILED")?.operations == 10)
                #expect(insert.operations == 5)
                #expect(elapsed >= 10 * 1.6 && elapsed < 10 * 2.4 + 1, "\(elapsed) s for 10 pauses of 2 s × U[0.8, 1.2)")
            } else {
                // One retry allowed: both attempts fail and the insert is an error.
                #expect(insert.returns == ["ERROR": 10])
                #expect(result.series(named: "INSERT-FAILED")?.operations == 10)
                #expect(elapsed >= 5 * 1.6 && elapsed < 5 * 2.4 + 1)
            }
        }
    }
}
