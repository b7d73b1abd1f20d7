// Every property of YCSB's CoreWorkload and client, typed and checked, plus kvlab's extensions.

/// `requestdistribution`: how keys are chosen in the run phase.
public enum RequestDistribution: String, Sendable, CaseIterable {
    case uniform, zipfian, latest, hotspot, sequential, exponential
}

/// `fieldlengthdistribution`.
public enum FieldLengthDistribution: String, Sendable, CaseIterable {
    case constant, uniform, zipfian, histogram
}

/// `scanlengthdistribution`.
public enum ScanLengthDistribution: String, Sendable, CaseIterable {
    case uniform, zipfian
}

/// `insertorder`: whether key numbers are hashed into names or used in order.
public enum InsertOrder: String, Sendable, CaseIterable {
    case hashed, ordered
}

/// `measurement.interval`: service time (`op`), time from the intended start (`intended`), or both.
public enum MeasurementInterval: String, Sendable, CaseIterable {
    case op, intended, both
}

/// The typed, validated configuration of a CoreWorkload run.
///
/// Built from merged `WorkloadProperties`; each property has YCSB's default unless noted.
/// Counts are 64-bit throughout. Unknown property names are collected in `warnings`; a bad
/// value throws a `WorkloadError` naming the property, the value, its source and what was expected.
public struct CoreWorkloadConfiguration: Sendable {
    // MARK: Client
    /// `workload` (must name CoreWorkload; default site.ycsb.workloads.CoreWorkload).
    public var workloadClass = "site.ycsb.workloads.CoreWorkload"
    /// `db` (YCSB binding class; kvlab's CLI chooses the target by its own flags).
    public var db = "site.ycsb.BasicDB"
    /// `threadcount` (1).
    public var threadCount = 1
    /// `target`: total operations per second, 0 = unthrottled (0).
    public var target: Double = 0
    /// `maxexecutiontime` in seconds, 0 = no limit (0).
    public var maxExecutionTime: Double = 0
    /// `status` (false).
    public var status = false
    /// `status.interval` in seconds (10).
    public var statusInterval: Double = 10
    /// `hdrhistogram.percentiles` ("95,99", YCSB 0.17.0's default; master's is "50,95,99").
    public var percentiles: [Double] = [95, 99]
    /// `measurementtype` (hdrhistogram).
    public var measurementType = "hdrhistogram"
    /// `measurement.interval` (op).
    public var measurementInterval = MeasurementInterval.op
    /// `dotransactions`: run phase (true) or load phase (false) (true).
    public var doTransactions = true
    /// `label` ("").
    public var label = ""
    /// `exporter` (site.ycsb.measurements.exporter.TextMeasurementsExporter).
    public var exporter = "site.ycsb.measurements.exporter.TextMeasurementsExporter"
    /// `exportfile`; nil means standard output.
    public var exportFile: String? = nil
    /// `measurementtype`, `exporter` and `hdrhistogram.*` as kvlab honours them (checked).
    public var measurement = MeasurementOptions()

    // MARK: Counts
    /// `recordcount` (0, which YCSB's workload treats as 2^31-1; this is the effective value).
    public var recordCount: Int64 = Int64(Int32.max)
    /// `operationcount`, 0 = unbounded (0).
    public var operationCount: Int64 = 0
    /// `insertstart` (0).
    public var insertStart: Int64 = 0
    /// `insertcount` (recordcount - insertstart).
    public var insertCount: Int64 = Int64(Int32.max)

    // MARK: Records
    /// `table` (usertable).
    public var table = "usertable"
    /// `fieldcount` (10).
    public var fieldCount = 10
    /// `fieldlength` (100): the length, or the maximum for non-constant distributions.
    public var fieldLength: Int64 = 100
    /// `minfieldlength` (1).
    public var minFieldLength: Int64 = 1
    /// `fieldlengthdistribution` (constant).
    public var fieldLengthDistribution = FieldLengthDistribution.constant
    /// `fieldlengthhistogram` (hist.txt), resolved against the directory of the file that set it.
    public var fieldLengthHistogramPath = "hist.txt"
    /// The histogram, loaded when `fieldlengthdistribution=histogram`.
    public var fieldLengthHistogram: HistogramGenerator? = nil
    /// `fieldnameprefix` (field).
    public var fieldNamePrefix = "field"
    /// `readallfields` (true).
    public var readAllFields = true
    /// `readallfieldsbyname` (false).
    public var readAllFieldsByName = false
    /// `writeallfields` (false).
    public var writeAllFields = false
    /// `dataintegrity` (false).
    public var dataIntegrity = false

    // MARK: Operation mix
    /// `readproportion` (0.95).
    public var readProportion = 0.95
    /// `updateproportion` (0.05).
    public var updateProportion = 0.05
    /// `insertproportion` (0).
    public var insertProportion = 0.0
    /// `scanproportion` (0).
    public var scanProportion = 0.0
    /// `readmodifywriteproportion` (0).
    public var readModifyWriteProportion = 0.0
    /// `deleteproportion` (0; kvlab extension).
    public var deleteProportion = 0.0

    // MARK: Key choice
    /// `requestdistribution` (uniform).
    public var requestDistribution = RequestDistribution.uniform
    /// `zipfian.constant` (0.99; kvlab extension: YCSB fixes theta).
    public var zipfianConstant = ZipfianGenerator.defaultTheta
    /// `minscanlength` (1).
    public var minScanLength: Int64 = 1
    /// `maxscanlength` (1000).
    public var maxScanLength: Int64 = 1000
    /// `scanlengthdistribution` (uniform).
    public var scanLengthDistribution = ScanLengthDistribution.uniform
    /// `insertorder` (hashed).
    public var insertOrder = InsertOrder.hashed
    /// `zeropadding` (1).
    public var zeroPadding = 1
    /// `hotspotdatafraction` (0.2).
    public var hotspotDataFraction = 0.2
    /// `hotspotopnfraction` (0.8).
    public var hotspotOperationFraction = 0.8
    /// `exponential.percentile` (95).
    public var exponentialPercentile = 95.0
    /// `exponential.frac` (0.8571428571).
    public var exponentialFraction = 0.8571428571

    // MARK: Insert retries (YCSB)
    /// `core_workload_insertion_retry_limit` (0).
    public var insertionRetryLimit = 0
    /// `core_workload_insertion_retry_interval` in seconds (3).
    public var insertionRetryInterval: Double = 3
    /// `core_workload_insertion_keep_going_on_error` (false).
    public var insertionKeepGoingOnError = false

    // MARK: kvlab extensions
    /// `warmuptime` in seconds of operations excluded from results (0).
    public var warmupTime: Double = 0
    /// `warmupops`: operations excluded from results (0).
    public var warmupOperations: Int64 = 0
    /// `seed` for every random stream (0x6B766C6162, "kvlab").
    public var seed: UInt64 = CoreWorkloadConfiguration.defaultSeed
    public static let defaultSeed: UInt64 = 0x6B76_6C61_62

    // MARK: Provenance
    /// The properties this configuration was built from.
    public var properties = WorkloadProperties()
    /// One line per unknown property, e.g. "unknown property 'fooo' (workloads/x:3)".
    public var warnings: [String] = []

    /// YCSB's defaults for everything.
    public init() {}

    /// Reads and checks every property.
    /// - Throws: `WorkloadError.badValue` for a value that does not parse or is out of range,
    ///   `.inconsistent` for values that contradict each other, `.histogram` /
    ///   `.unreadableFile` for a bad field-length histogram.
    public init(properties: WorkloadProperties) throws(WorkloadError) {
        self.properties = properties
        var r = PropertyReader(properties: properties)

        // Client
        workloadClass = try r.string("workload", default: workloadClass)
        guard Self.coreWorkloadNames.contains(workloadClass) else {
            throw r.bad("workload", expected: "site.ycsb.workloads.CoreWorkload (the workload kvlab implements)")
        }
        db = try r.string("db", default: db)
        threadCount = Int(try r.integer("threadcount", default: 1, minimum: 1))
        target = try r.double("target", default: 0, in: 0...Double.greatestFiniteMagnitude, expected: "a number of operations per second ≥ 0")
        maxExecutionTime = try r.double("maxexecutiontime", default: 0, in: 0...Double.greatestFiniteMagnitude, expected: "a number of seconds ≥ 0")
        status = try r.bool("status", default: false)
        statusInterval = try r.double("status.interval", default: 10, in: 0.001...Double.greatestFiniteMagnitude, expected: "a number of seconds > 0")
        percentiles = try r.percentiles("hdrhistogram.percentiles", default: "95,99")
        measurementType = try r.string("measurementtype", default: measurementType)
        measurementInterval = try r.choice("measurement.interval", default: .op)
        doTransactions = try r.bool("dotransactions", default: true)
        label = try r.string("label", default: "")
        exporter = try r.string("exporter", default: exporter)
        exportFile = properties["exportfile"]?.value
        measurement = try MeasurementOptions(reader: &r)

        // Counts
        let declaredRecords = try r.integer("recordcount", default: 0, minimum: 0)
        recordCount = declaredRecords == 0 ? Int64(Int32.max) : declaredRecords
        operationCount = try r.integer("operationcount", default: 0, minimum: 0)
        insertStart = try r.integer("insertstart", default: 0, minimum: 0)
        insertCount = try r.integer("insertcount", default: recordCount - insertStart, minimum: 0)
        if insertCount < 0 {
            throw .inconsistent("insertstart=\(insertStart) (\(r.source("insertstart"))) is beyond recordcount=\(recordCount) (\(r.source("recordcount"))): expected insertstart ≤ recordcount")
        }
        if insertStart + insertCount > recordCount {
            throw .inconsistent("insertstart=\(insertStart) (\(r.source("insertstart"))) + insertcount=\(insertCount) (\(r.source("insertcount"))) exceeds recordcount=\(recordCount) (\(r.source("recordcount"))): expected insertstart + insertcount ≤ recordcount")
        }

        // Records
        table = try r.string("table", default: table)
        fieldCount = Int(try r.integer("fieldcount", default: 10, minimum: 1, maximum: 1 << 20))
        fieldLength = try r.integer("fieldlength", default: 100, minimum: 0, maximum: 1 << 30)
        minFieldLength = try r.integer("minfieldlength", default: 1, minimum: 0, maximum: 1 << 30)
        fieldLengthDistribution = try r.choice("fieldlengthdistribution", default: .constant)
        fieldNamePrefix = try r.string("fieldnameprefix", default: fieldNamePrefix)
        readAllFields = try r.bool("readallfields", default: true)
        readAllFieldsByName = try r.bool("readallfieldsbyname", default: false)
        writeAllFields = try r.bool("writeallfields", default: false)
        dataIntegrity = try r.bool("dataintegrity", default: false)
        if fieldLengthDistribution == .uniform || fieldLengthDistribution == .zipfian, minFieldLength > fieldLength {
            throw .inconsistent("minfieldlength=\(minFieldLength) (\(r.source("minfieldlength"))) is above fieldlength=\(fieldLength) (\(r.source("fieldlength"))): expected minfieldlength ≤ fieldlength for fieldlengthdistribution=\(fieldLengthDistribution.rawValue)")
        }
        if dataIntegrity && fieldLengthDistribution != .constant {
            throw .inconsistent("dataintegrity=true (\(r.source("dataintegrity"))) needs fieldlengthdistribution=constant, not \(fieldLengthDistribution.rawValue) (\(r.source("fieldlengthdistribution")))")
        }
        fieldLengthHistogramPath = try r.string("fieldlengthhistogram", default: "hist.txt")
        if fieldLengthDistribution == .histogram {
            let directory: String?
            if case .file(let path, _) = r.source("fieldlengthhistogram") {
                directory = FileText.directory(of: path)
            } else {
                directory = properties.lastFileDirectory
            }
            let path = FileText.resolve(fieldLengthHistogramPath, relativeTo: directory)
            fieldLengthHistogram = try HistogramGenerator.load(path: path)
        }

        // Operation mix
        readProportion = try r.proportion("readproportion", default: 0.95)
        updateProportion = try r.proportion("updateproportion", default: 0.05)
        insertProportion = try r.proportion("insertproportion", default: 0)
        scanProportion = try r.proportion("scanproportion", default: 0)
        readModifyWriteProportion = try r.proportion("readmodifywriteproportion", default: 0)
        deleteProportion = try r.proportion("deleteproportion", default: 0)
        if proportionSum <= 0 {
            let names = ["readproportion", "updateproportion", "insertproportion", "scanproportion", "readmodifywriteproportion", "deleteproportion"]
            let listed = names.map { "\($0)=\(properties[$0]?.value ?? "0") (\(r.source($0)))" }.joined(separator: ", ")
            throw .inconsistent("operation proportions sum to 0: \(listed): expected at least one proportion above 0")
        }

        // Key choice
        requestDistribution = try r.choice("requestdistribution", default: .uniform)
        zipfianConstant = try r.double("zipfian.constant", default: 0.99, in: 0.000001...0.999999, expected: "a number strictly between 0 and 1")
        minScanLength = try r.integer("minscanlength", default: 1, minimum: 0)
        maxScanLength = try r.integer("maxscanlength", default: 1000, minimum: 0)
        if minScanLength > maxScanLength {
            throw .inconsistent("minscanlength=\(minScanLength) (\(r.source("minscanlength"))) is above maxscanlength=\(maxScanLength) (\(r.source("maxscanlength"))): expected minscanlength ≤ maxscanlength")
        }
        scanLengthDistribution = try r.choice("scanlengthdistribution", default: .uniform)
        insertOrder = try r.choice("insertorder", default: .hashed)
        zeroPadding = Int(try r.integer("zeropadding", default: 1, minimum: 1, maximum: 1000))
        hotspotDataFraction = try r.proportion("hotspotdatafraction", default: 0.2)
        hotspotOperationFraction = try r.proportion("hotspotopnfraction", default: 0.8)
        exponentialPercentile = try r.double("exponential.percentile", default: 95, in: 0.000001...99.999999, expected: "a percentile strictly between 0 and 100")
        exponentialFraction = try r.double("exponential.frac", default: 0.8571428571, in: 0.000001...Double.greatestFiniteMagnitude, expected: "a number > 0")

        insertionRetryLimit = Int(try r.integer("core_workload_insertion_retry_limit", default: 0, minimum: 0, maximum: Int64(Int32.max)))
        insertionRetryInterval = try r.double("core_workload_insertion_retry_interval", default: 3, in: 0...Double.greatestFiniteMagnitude, expected: "a number of seconds ≥ 0")
        insertionKeepGoingOnError = try r.bool("core_workload_insertion_keep_going_on_error", default: false)

        warmupTime = try r.double("warmuptime", default: 0, in: 0...Double.greatestFiniteMagnitude, expected: "a number of seconds ≥ 0")
        warmupOperations = try r.integer("warmupops", default: 0, minimum: 0)
        seed = try r.seed("seed", default: Self.defaultSeed)

        warnings = properties.all.compactMap { key, value in
            Self.isKnown(key) ? nil : "unknown property '\(key)' (\(value.source))"
        } + measurement.warnings
    }

    /// Loads `-P` files in order, applies `-p` overrides, and builds the configuration.
    public static func load(files: [String], overrides: [String] = []) throws(WorkloadError) -> CoreWorkloadConfiguration {
        var properties = WorkloadProperties()
        for file in files { try properties.load(file: file) }
        for override in overrides { try properties.applyOverride(override) }
        return try CoreWorkloadConfiguration(properties: properties)
    }

    /// Sum of the operation proportions (they are weights, normalised by this sum).
    public var proportionSum: Double {
        readProportion + updateProportion + insertProportion + scanProportion + readModifyWriteProportion + deleteProportion
    }

    /// The field name of index `i`: prefix + decimal index.
    public func fieldName(_ i: Int) -> String { fieldNamePrefix + String(i) }

    /// Whether reads name every field (instead of "all fields" as a null set).
    public var readsAllFieldsByName: Bool { readAllFieldsByName || dataIntegrity }

    /// Zero-based index of the load-phase key range end: insertstart + insertcount.
    public var loadEnd: Int64 { insertStart + insertCount }

    // MARK: - Known names

    static let coreWorkloadNames: Set<String> = [
        "site.ycsb.workloads.CoreWorkload", "com.yahoo.ycsb.workloads.CoreWorkload", "CoreWorkload", "core",
    ]

    /// Properties read by this type.
    static let workloadProperties: Set<String> = [
        "workload", "db", "threadcount", "target", "maxexecutiontime", "status", "status.interval",
        "hdrhistogram.percentiles", "measurementtype", "measurement.interval", "dotransactions", "label",
        "exporter", "exportfile", "recordcount", "operationcount", "insertstart", "insertcount", "table",
        "fieldcount", "fieldlength", "minfieldlength", "fieldlengthdistribution", "fieldlengthhistogram",
        "fieldnameprefix", "readallfields", "readallfieldsbyname", "writeallfields", "dataintegrity",
        "readproportion", "updateproportion", "insertproportion", "scanproportion",
        "readmodifywriteproportion", "deleteproportion", "requestdistribution", "zipfian.constant",
        "minscanlength", "maxscanlength", "scanlengthdistribution", "insertorder", "zeropadding",
        "hotspotdatafraction", "hotspotopnfraction", "exponential.percentile", "exponential.frac",
        "core_workload_insertion_retry_limit", "core_workload_insertion_retry_interval",
        "core_workload_insertion_keep_going_on_error", "warmuptime", "warmupops", "seed",
    ]

    /// YCSB client, measurement and binding properties that kvlab accepts without comment.
    static let acceptedProperties: Set<String> = [
        "histogram.buckets", "timeseries.granularity", "hdrhistogram.fileoutput", "hdrhistogram.output.path",
        "measurement.histogram.verbose", "measurement.trackjvm", "reportlatencyforeacherror",
        "latencytrackederrors", "spin.sleep", "maxscanrate", "scanoptimelimit", "discardscannedrecord",
        "histogram.percentiles.export", "batch.size", "keyprefix", "dropdata", "silence", "outputstyle",
        "debug.pprof", "client", "shell",
    ]

    /// Binding-specific prefixes (YCSB and go-ycsb bindings) accepted without comment.
    static let acceptedPrefixes = [
        "redis.", "mongodb.", "cassandra.", "hbase.", "jdbc.", "db.", "basicdb.", "rocksdb.", "memcached.",
        "dynamodb.", "elasticsearch.", "couchbase.", "aerospike.", "tikv.", "etcd.", "badger.", "bolt.",
        "mysql.", "pg.", "sqlite.", "foundationdb.", "fdb.", "kvlab.",
    ]

    static func isKnown(_ key: String) -> Bool {
        workloadProperties.contains(key) || acceptedProperties.contains(key)
            || acceptedPrefixes.contains(where: { key.hasPrefix($0) })
    }
}

// MARK: - Reading typed values

/// Reads one typed value per property, producing errors that point at the value's source.
struct PropertyReader {
    let properties: WorkloadProperties

    func source(_ name: String) -> PropertySource { properties[name]?.source ?? .defaultValue }

    func bad(_ name: String, expected: String) -> WorkloadError {
        .badValue(property: name, value: properties[name]?.value ?? "", source: source(name), expected: expected)
    }

    private func trimmed(_ name: String) -> String? {
        properties[name].map { $0.value.trimmingBlanks() }
    }

    mutating func string(_ name: String, default value: String) throws(WorkloadError) -> String {
        properties[name]?.value ?? value
    }

    mutating func integer(_ name: String, default value: Int64, minimum: Int64, maximum: Int64 = .max) throws(WorkloadError) -> Int64 {
        guard let text = trimmed(name) else { return value }
        let expected = maximum == .max ? "a whole number ≥ \(minimum)" : "a whole number between \(minimum) and \(maximum)"
        guard let number = Int64(text), number >= minimum, number <= maximum else { throw bad(name, expected: expected) }
        return number
    }

    mutating func double(_ name: String, default value: Double, in range: ClosedRange<Double>, expected: String) throws(WorkloadError) -> Double {
        guard let text = trimmed(name) else { return value }
        guard let number = Double(text), number.isFinite, range.contains(number) else { throw bad(name, expected: expected) }
        return number
    }

    mutating func proportion(_ name: String, default value: Double) throws(WorkloadError) -> Double {
        try double(name, default: value, in: 0...1, expected: "a number between 0 and 1")
    }

    mutating func bool(_ name: String, default value: Bool) throws(WorkloadError) -> Bool {
        guard let text = trimmed(name) else { return value }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw bad(name, expected: "true or false")
        }
    }

    mutating func choice<C: RawRepresentable & CaseIterable>(_ name: String, default value: C) throws(WorkloadError) -> C where C.RawValue == String {
        guard let text = trimmed(name) else { return value }
        guard let choice = C(rawValue: text) else {
            throw bad(name, expected: "one of " + C.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return choice
    }

    mutating func percentiles(_ name: String, default value: String) throws(WorkloadError) -> [Double] {
        let text = trimmed(name) ?? value
        var result: [Double] = []
        for part in text.split(separator: ",") {
            guard let p = Double(String(part).trimmingBlanks()), p > 0, p <= 100 else {
                throw bad(name, expected: "a comma-separated list of percentiles in (0, 100]")
            }
            result.append(p)
        }
        guard !result.isEmpty else { throw bad(name, expected: "a comma-separated list of percentiles in (0, 100]") }
        return result
    }

    mutating func seed(_ name: String, default value: UInt64) throws(WorkloadError) -> UInt64 {
        guard let text = trimmed(name) else { return value }
        let lower = text.lowercased()
        let parsed = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(lower)
        guard let seed = parsed else { throw bad(name, expected: "an unsigned 64-bit integer (decimal or 0x hexadecimal)") }
        return seed
    }
}

extension String {
    /// Without leading and trailing spaces, tabs, form feeds and line ends.
    func trimmingBlanks() -> String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\u{0C}" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}

// MARK: - Operations per thread

extension CoreWorkloadConfiguration {
    /// Operations of the load phase: insertcount (which defaults to recordcount - insertstart).
    public var loadOperationCount: Int64 { insertCount }

    /// Threads actually used: threadcount, capped to the operation count as YCSB caps it
    /// (an unbounded run, operationcount=0, keeps every thread).
    public func effectiveThreadCount(operations: Int64) -> Int {
        operations > 0 ? Int(min(Int64(threadCount), operations)) : threadCount
    }

    /// YCSB's split of `total` operations over `threads`: total/threads each, and one more for
    /// the first total % threads threads.
    public static func operations(forThread index: Int, of threads: Int, total: Int64) -> Int64 {
        let share = total / Int64(threads)
        return share + (Int64(index) < total % Int64(threads) ? 1 : 0)
    }
}
