// Load-then-run of a YCSB workload on one target, as a library call (counting mode, saturation steps).

import Driver
import Foundation
import Measurement
import Workload

/// Runs a workload's phases on a target without the CLI: what `kvlab count` and the saturation
/// search repeat many times with different rates or under callgrind.
public struct WorkloadRunner: Sendable {
    /// The effective workload configuration.
    public let configuration: CoreWorkloadConfiguration
    /// The description recorded in every result (engine or server, options, properties).
    public var metadata: RunMetadata

    /// - Parameters:
    ///   - configuration: the parsed workload.
    ///   - metadata: the run description to record (phase, threads and target are set per run).
    public init(configuration: CoreWorkloadConfiguration, metadata: RunMetadata) {
        self.configuration = configuration
        self.metadata = metadata
    }

    /// Inserts the workload's records as fast as possible, unmeasured preparation.
    /// - Throws: `DriverError` from the driver; workload errors as `DriverError.workload`.
    public func load(into target: any DriverTarget) throws(DriverError) -> RunResult {
        var settings = DriverConfiguration(phase: .load, workload: configuration)
        settings.targetOpsPerSecond = 0
        settings.status = false
        settings.threads = configuration.effectiveThreadCount(operations: configuration.insertCount)
        var meta = metadata
        meta.phase = .load
        meta.target = nil
        return try driver(target, settings).run(metadata: meta).result
    }

    /// Runs the transaction phase once.
    /// - Parameters:
    ///   - target: where to run.
    ///   - threads: client threads (nil: the workload's `threadcount`).
    ///   - rate: total target operations per second; 0 for as fast as possible.
    ///   - operations: operations to run (nil: the workload's `operationcount`).
    ///   - seconds: a time limit (0: none).
    ///   - warmupSeconds: seconds excluded at the start (a steady-state step skips the ramp).
    public func run(on target: any DriverTarget, threads: Int? = nil, rate: Double = 0, operations: Int64? = nil,
                    seconds: Double = 0, warmupSeconds: Double = 0) throws(DriverError) -> RunResult {
        var settings = DriverConfiguration(phase: .run, workload: configuration)
        settings.status = false
        settings.targetOpsPerSecond = rate
        settings.measurementInterval = rate > 0 ? .both : settings.measurementInterval
        if let operations { settings.operationCount = operations }
        settings.maxExecutionSeconds = seconds
        if warmupSeconds > 0 { settings.warmupSeconds = warmupSeconds }
        settings.threads = threads ?? configuration.effectiveThreadCount(operations: settings.operationCount)
        var meta = metadata
        meta.phase = .run
        meta.threads = settings.threads
        meta.target = rate > 0 ? rate : nil
        return try driver(target, settings).run(metadata: meta).result
    }

    private func driver(_ target: any DriverTarget, _ settings: DriverConfiguration) throws(DriverError) -> Driver {
        let workload: CoreWorkload
        do { workload = try CoreWorkload(configuration: configuration) } catch { throw .workload(error) }
        return Driver(workload: workload, target: target, configuration: settings)
    }
}
