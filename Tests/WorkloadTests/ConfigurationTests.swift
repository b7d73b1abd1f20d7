// Typed configuration: defaults, errors that point at file:line, warnings, the workloads/ files.

import Foundation
import Testing
@testable import Workload

@Suite("Workload configuration")
struct ConfigurationTests {
    @Test("defaults are YCSB's")
    func defaults() throws {
        let c = try CoreWorkloadConfiguration(properties: WorkloadProperties())
        #expect(c.recordCount == Int64(Int32.max))
        #expect(c.operationCount == 0 && c.insertStart == 0 && c.insertCount == Int64(Int32.max))
        #expect(c.fieldCount == 10 && c.fieldLength == 100 && c.minFieldLength == 1)
        #expect(c.fieldLengthDistribution == .constant && c.fieldNamePrefix == "field")
        #expect(c.readAllFields && !c.readAllFieldsByName && !c.writeAllFields && !c.dataIntegrity)
        #expect(c.readProportion == 0.95 && c.updateProportion == 0.05)
        #expect(c.insertProportion == 0 && c.scanProportion == 0 && c.readModifyWriteProportion == 0 && c.deleteProportion == 0)
        #expect(c.requestDistribution == .uniform && c.zipfianConstant == 0.99)
        #expect(c.minScanLength == 1 && c.maxScanLength == 1000 && c.scanLengthDistribution == .uniform)
        #expect(c.insertOrder == .hashed && c.zeroPadding == 1)
        #expect(c.hotspotDataFraction == 0.2 && c.hotspotOperationFraction == 0.8)
        #expect(c.exponentialPercentile == 95 && c.exponentialFraction == 0.8571428571)
        #expect(c.table == "usertable" && c.threadCount == 1 && c.target == 0 && c.maxExecutionTime == 0)
        #expect(c.statusInterval == 10 && c.percentiles == [95, 99] && c.measurementInterval == .op)
        #expect(c.doTransactions && c.seed == 0x6B766C6162 && c.warmupTime == 0 && c.warmupOperations == 0)
        #expect(c.warnings.isEmpty)
    }

    @Test("a non-numeric proportion names file, line, property, value and what was expected")
    func badProportion() {
        let error = workloadError { _ = try configuration("recordcount=10\n\n\nreadproportion=abc", path: "workloads/bad") }
        #expect(error?.description == "workloads/bad:4: readproportion=abc: expected a number between 0 and 1")
    }

    @Test("a bad -p value names the command line")
    func badOverride() {
        let error = workloadError { _ = try configuration("recordcount=10", overrides: ["fieldcount=ten"]) }
        #expect(error?.description == "command line -p: fieldcount=ten: expected a whole number between 1 and 1048576")
    }

    @Test("proportions summing to 0 are an error listing each proportion and its source")
    func zeroProportions() {
        let error = workloadError { _ = try configuration("readproportion=0\nupdateproportion=0", path: "wz") }
        let text = error?.description ?? ""
        #expect(text.contains("operation proportions sum to 0"))
        #expect(text.contains("readproportion=0 (wz:1)"))
        #expect(text.contains("updateproportion=0 (wz:2)"))
        #expect(text.contains("insertproportion=0 (default)"))
    }

    @Test("a negative recordcount is an error naming it")
    func negativeRecordCount() {
        let error = workloadError { _ = try configuration("# c\nrecordcount=-5", path: "wn") }
        #expect(error == .badValue(property: "recordcount", value: "-5", source: .file(path: "wn", line: 2), expected: "a whole number ≥ 0"))
    }

    @Test("an unknown distribution name lists the valid ones")
    func unknownDistribution() {
        let error = workloadError { _ = try configuration("requestdistribution=zipf", path: "wd") }
        #expect(error?.description == "wd:1: requestdistribution=zipf: expected one of uniform, zipfian, latest, hotspot, sequential, exponential")
    }

    @Test("values that contradict each other are errors")
    func contradictions() {
        #expect(workloadError { _ = try configuration("recordcount=10\ninsertstart=5\ninsertcount=6") }?.description.contains("exceeds recordcount=10") == true)
        #expect(workloadError { _ = try configuration("dataintegrity=true\nfieldlengthdistribution=uniform") }?.description.contains("needs fieldlengthdistribution=constant") == true)
        #expect(workloadError { _ = try configuration("minscanlength=10\nmaxscanlength=5") } != nil)
        #expect(workloadError { _ = try configuration("recordcount=10\ninsertstart=20") }?.description.contains("is beyond recordcount=10") == true)
        #expect(workloadError { _ = try configuration("zipfian.constant=1") } != nil)
        #expect(workloadError { _ = try configuration("workload=site.ycsb.workloads.TimeSeriesWorkload") } != nil)
        #expect(workloadError { _ = try configuration("readallfields=yes") }?.description == "test.properties:1: readallfields=yes: expected true or false")
        #expect(workloadError { _ = try configuration("hdrhistogram.percentiles=50,abc") } != nil)
    }

    @Test("unknown properties become warnings, well-known YCSB ones do not")
    func warnings() throws {
        let c = try configuration("recordcount=10\nfooo=1\nredis.host=localhost\nhistogram.buckets=100\nmeasurementtype=hdrhistogram\nexporter=site.ycsb.measurements.exporter.TextMeasurementsExporter", path: "workloads/x")
        #expect(c.warnings == ["unknown property 'fooo' (workloads/x:2)"])
    }

    @Test("kvlab extensions parse: seed in hex, theta, warm-up, deletes")
    func extensions() throws {
        let c = try configuration("seed=0xff\nzipfian.constant=0.5\nwarmuptime=2.5\nwarmupops=100\ndeleteproportion=0.1\nmeasurement.interval=both")
        #expect(c.seed == 255 && c.zipfianConstant == 0.5 && c.warmupTime == 2.5 && c.warmupOperations == 100)
        #expect(c.deleteProportion == 0.1 && c.measurementInterval == .both)
    }

    @Test("a field-length histogram is read relative to the workload file, with errors naming its line")
    func histogramFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "BlockSize\t10\n0\t1\n1\t3\n".write(toFile: dir + "/hist.txt", atomically: true, encoding: .utf8)
        try "fieldlengthdistribution=histogram\nrecordcount=10\n".write(toFile: dir + "/w", atomically: true, encoding: .utf8)
        let c = try CoreWorkloadConfiguration.load(files: [dir + "/w"])
        #expect(c.fieldLengthHistogram?.buckets == [1, 3])
        #expect(c.fieldLengthHistogram?.blockSize == 10)

        try "BlockSize\t10\n0\t1\n1\tmany\n".write(toFile: dir + "/bad.txt", atomically: true, encoding: .utf8)
        let error = workloadError { _ = try CoreWorkloadConfiguration.load(files: [dir + "/w"], overrides: ["fieldlengthhistogram=bad.txt"]) }
        #expect(error?.description.hasPrefix(dir + "/bad.txt:3:") == true)
    }

    static let expectedMixes: [(file: String, read: Double, update: Double, insert: Double, scan: Double, rmw: Double, distribution: RequestDistribution)] = [
        ("workloada", 0.5, 0.5, 0, 0, 0, .zipfian),
        ("workloadb", 0.95, 0.05, 0, 0, 0, .zipfian),
        ("workloadc", 1, 0, 0, 0, 0, .zipfian),
        ("workloadd", 0.95, 0, 0.05, 0, 0, .latest),
        ("workloade", 0, 0, 0.05, 0.95, 0, .zipfian),
        ("workloadf", 0.5, 0, 0, 0, 0.5, .zipfian),
        ("workload_template", 0.95, 0.05, 0, 0, 0, .zipfian),
    ]

    @Test("every file in workloads/ loads with YCSB's values and no warnings", arguments: expectedMixes.map(\.file))
    func workloadFiles(_ name: String) throws {
        let m = Self.expectedMixes.first { $0.file == name }!
        let c = try CoreWorkloadConfiguration.load(files: [workloadsDirectory + "/" + name])
        // YCSB's template asks for its 1 ms bucket histogram, which kvlab records as an HdrHistogram and says so.
        #expect(c.warnings == (name == "workload_template"
            ? ["measurementtype=histogram (\(workloadsDirectory)/workload_template:65): kvlab records HdrHistograms as for measurementtype=hdrhistogram; YCSB's 1 ms bucket lines and LatencyVariance(us) are not printed"]
            : []))
        #expect(c.readProportion == m.read && c.updateProportion == m.update && c.insertProportion == m.insert)
        #expect(c.scanProportion == m.scan && c.readModifyWriteProportion == m.rmw)
        #expect(c.requestDistribution == m.distribution)
        #expect(c.readAllFields && c.fieldCount == 10 && c.fieldLength == 100 && c.insertOrder == .hashed)
        if name == "workload_template" {
            #expect(c.recordCount == 1_000_000 && c.operationCount == 3_000_000)
        } else {
            #expect(c.recordCount == 1000 && c.operationCount == 1000)
        }
        if name == "workloade" { #expect(c.maxScanLength == 100 && c.scanLengthDistribution == .uniform) }
        _ = try CoreWorkload(configuration: c)
    }
}
