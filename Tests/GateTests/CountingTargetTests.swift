// The counting wrapper and the planted slowdown change no outcome: same operations, same statuses.

import Driver
import Foundation
import KVCore
import KVEngines
import Measurement
import Testing
import Workload
@testable import Gate

@Suite("Counting target")
struct CountingTargetTests {
    func runner() throws -> WorkloadRunner {
        let properties = WorkloadProperties(["recordcount": "200", "operationcount": "500", "readproportion": "0.5",
                                             "updateproportion": "0.5", "threadcount": "1"])
        let configuration = try CoreWorkloadConfiguration(properties: properties)
        let metadata = RunMetadata(kvlabVersion: "test", engine: "hash", threads: 1, startTime: Date(timeIntervalSince1970: 0),
                                   machineCores: 1, phase: .run)
        return WorkloadRunner(configuration: configuration, metadata: metadata)
    }

    func outcome(wrap: (any KeyValueEngine) -> any KeyValueEngine, counting: Bool) throws -> [String: [String: UInt64]] {
        let engine = wrap(try StandardEngines.registry.open("hash", options: EngineOptions()))
        let target = InProcessTarget(engine: engine)
        let r = try runner()
        _ = try r.load(into: target)
        let result = try r.run(on: counting ? CountingTarget(target) : target, threads: 1)
        var returns: [String: [String: UInt64]] = [:]
        for series in result.series { returns[series.name] = series.returns.merging(["ops": series.operations]) { $1 } }
        return returns
    }

    @Test("the counting wrapper passes every operation through with the same statuses")
    func passThrough() throws {
        let plain = try outcome(wrap: { $0 }, counting: false)
        let counted = try outcome(wrap: { $0 }, counting: true)
        #expect(plain == counted)
        #expect((plain["READ"]?["ops"] ?? 0) + (plain["UPDATE"]?["ops"] ?? 0) == 500)
    }

    @Test("the planted slowdown wraps only when its variable is set and changes no result")
    func plantedSlowdown() throws {
        let engine = try StandardEngines.registry.open("hash", options: EngineOptions())
        #expect(PlantedSlowdownEngine.wrapIfRequested(engine, environment: [:]) === engine)
        #expect(PlantedSlowdownEngine.wrapIfRequested(engine, environment: ["KVLAB_PLANTED_GET_SLOWDOWN": "x"]) === engine)
        let wrapped = PlantedSlowdownEngine.wrapIfRequested(engine, environment: ["KVLAB_PLANTED_GET_SLOWDOWN": "50"])
        #expect((wrapped as? PlantedSlowdownEngine)?.iterations == 50)
        let plain = try outcome(wrap: { $0 }, counting: false)
        let slowed = try outcome(wrap: { PlantedSlowdownEngine($0, iterations: 50) }, counting: true)
        #expect(plain == slowed)
    }
}
