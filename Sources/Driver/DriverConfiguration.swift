// How a run is driven: phase, threads, rate, limits, warm-up, status interval.

import Workload

/// Load (insert every record) or run (the transaction mix), as YCSB's `-load` / `-t`.
public enum DriverPhase: String, Sendable {
    case load, run
}

/// The settings of one driver run, taken from the effective workload properties.
public struct DriverConfiguration: Sendable {
    public var phase: DriverPhase
    /// Client threads (`threadcount`, `-threads`).
    public var threads: Int
    /// Total target rate in operations per second (`target`, `-target`); 0 = as fast as possible.
    public var targetOpsPerSecond: Double
    /// Operations of the run phase (`operationcount`); the load phase inserts `insertcount`.
    public var operationCount: Int64
    /// Stop after this many seconds (`maxexecutiontime`); 0 = no limit.
    public var maxExecutionSeconds: Double
    /// Seconds between status lines (`status.interval`), used when status lines are on.
    public var statusIntervalSeconds: Double
    /// Print status lines (`-s`).
    public var status: Bool
    /// What latency to record with a target rate: service time, intended (schedule) time, or both.
    public var measurementInterval: MeasurementInterval
    /// Operations excluded from the results at the start (`warmupops`, over all threads).
    public var warmupOperations: Int64
    /// Seconds excluded from the results at the start (`warmuptime`).
    public var warmupSeconds: Double
    /// Record every operation (warm-up included) into a history (`--history`): thread `t` is
    /// process `historyFirstProcess + t`. Off by default; when off, nothing is recorded and
    /// no digests are computed.
    public var recordsHistory: Bool = false
    /// The process id of thread 0 in the history (so load and run phases can share one).
    public var historyFirstProcess: Int = 0
    /// Keep every status interval's histograms (``DriverOutcome/intervalLogs``) for HdrHistogram
    /// interval logs (`hdrhistogram.fileoutput`); intervals are `status.interval` long, with or without `-s`.
    public var recordsIntervalLog: Bool = false

    /// The driver settings of a workload configuration.
    public init(phase: DriverPhase, workload c: CoreWorkloadConfiguration) {
        self.phase = phase
        threads = c.threadCount
        targetOpsPerSecond = c.target
        operationCount = c.operationCount
        maxExecutionSeconds = c.maxExecutionTime
        statusIntervalSeconds = c.statusInterval
        status = c.status
        // With a target rate, service and intended latency are both reported unless told otherwise.
        if c.target > 0 && c.properties["measurement.interval"] == nil {
            measurementInterval = .both
        } else {
            measurementInterval = c.measurementInterval
        }
        warmupOperations = c.warmupOperations
        warmupSeconds = c.warmupTime
        recordsIntervalLog = c.measurement.hdrFileOutput
    }

    /// Whether the recorders keep `Intended-<OP>` series. kvlab always keeps the service-time
    /// series too: `measurement.interval=intended` behaves as `both` (YCSB would drop `<OP>`).
    var recordsIntended: Bool { targetOpsPerSecond > 0 && measurementInterval != .op }
}
