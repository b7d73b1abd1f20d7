// `kvlab run --slo p99=2ms`: the saturation search over -target, in process or against a server.

import ArgumentParser
import Driver
import Foundation
import Gate
import KVClient
import KVCore
import Measurement
import Workload

/// The options of `kvlab run` that turn it into a saturation search.
struct SaturationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Saturation search: find the highest -target whose intended latency meets this objective, e.g. p99=2ms.", valueName: "pNN=latency"))
    var slo: String?

    @Option(name: .customLong("slo-step-seconds"), help: ArgumentHelp("With --slo: measured seconds per step (after a warm-up of a third of it).", valueName: "seconds"))
    var stepSeconds: Double = 3

    @Option(name: .customLong("slo-steps"), help: ArgumentHelp("With --slo: throttled steps at most.", valueName: "n"))
    var steps: Int = 8

    @Option(name: .customLong("slo-chart"), help: ArgumentHelp("With --slo: write the curve as an SVG chart here.", valueName: "file"))
    var chart: String?

    func validate() throws {
        guard stepSeconds > 0, stepSeconds <= 3600 else { throw ValidationError("--slo-step-seconds \(stepSeconds): expected 0 < seconds <= 3600") }
        guard steps >= 2 else { throw ValidationError("--slo-steps \(steps): expected at least 2") }
    }
}

/// Loads once, then measures short steady-state steps at bisected target rates.
struct SaturationRunner {
    var ycsb: YCSBArguments
    var selection: EngineSelection
    var network: NetworkTargetOptions
    var options: SaturationOptions

    func execute() throws {
        let objective: LatencyObjective
        do { objective = try LatencyObjective.parse(options.slo ?? "") } catch { throw CLIError(message: "kvlab run: \(error)", code: 2) }
        let properties: WorkloadProperties
        do { properties = try ycsb.loadProperties() } catch { throw CLIError(message: "kvlab run: \(error)", code: 2) }
        var overrides = properties.all.map { "\($0.key)=\($0.value.value)" }
        // Steps end by time; the count only has to be large enough never to end one first.
        overrides.append("operationcount=\(Int64.max / 4)")
        let runner = try makeWorkloadRunner(propertyFiles: [], properties: overrides, selection: selection, command: "run",
                                            engineName: network.url)
        let target: any DriverTarget
        var engine: (any KeyValueEngine)?
        if let url = network.url {
            let fieldNames = (0..<runner.configuration.fieldCount).map { Array(runner.configuration.fieldName($0).utf8) }
            do {
                target = try RESPTarget(url: url, mapping: RecordMapping(rawValue: network.mapping) ?? .hash, pipeline: network.pipeline,
                                        clientsPerThread: network.clients, scanIndex: !network.noScanIndex, fieldNames: fieldNames,
                                        connection: network.connectionSettings,
                                        statusMapping: StatusMapping(rawValue: network.statuses) ?? .kvlab)
            } catch { throw CLIError(message: "kvlab run: \(error)", code: 2) }
        } else {
            do { engine = try selection.open() } catch { throw CLIError(message: "kvlab run: \(error)", code: 2) }
            target = InProcessTarget(engine: engine!)
        }
        defer { try? engine?.close() }
        do {
            let loaded = try runner.load(into: target)
            Console.error("kvlab run --slo: loaded \(loaded.operations) records in \(loaded.runtimeMilliseconds) ms")
        } catch { throw CLIError(message: "kvlab run: load: \(error)") }
        let search = SaturationSearch(objective: objective, maximumSteps: options.steps)
        let seconds = options.stepSeconds
        let outcome: SaturationOutcome
        do {
            outcome = try search.run { rate in
                let result = try runner.run(on: target, rate: rate, seconds: seconds * 4 / 3, warmupSeconds: seconds / 3)
                let step = SaturationStep.from(result, targetRate: rate, percentile: objective.percentile)
                Console.error(String(format: "kvlab run --slo: target %@ -> %.0f ops/s, intended p50 %.0f µs, p%g %.0f µs",
                                     rate == 0 ? "unthrottled" : String(format: "%.0f", rate), step.throughput, step.p50Microseconds,
                                     objective.percentile, step.tailMicroseconds))
                return step
            }
        } catch { throw CLIError(message: "kvlab run --slo: \(error)") }
        Console.output(outcome.textTable(), terminator: "")
        if let chart = options.chart {
            do { try Data(try outcome.chart().utf8).write(to: URL(fileURLWithPath: chart)) } catch {
                throw CLIError(message: "kvlab run --slo: cannot write chart '\(chart)': \(error)")
            }
        }
    }
}
