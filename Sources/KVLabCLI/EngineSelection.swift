// The options every engine-using subcommand shares: --engine and --option name=value.

import ArgumentParser
import KVCore
import KVEngines
import Foundation
import Gate

struct EngineSelection: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Engine to use (see `kvlab engines`).", valueName: "name"))
    var engine: String = StandardEngines.defaultEngine

    @Option(name: .customLong("option"), help: ArgumentHelp("An engine option, repeatable (see `kvlab engines`).", valueName: "name=value"))
    var options: [String] = []

    @Option(help: ArgumentHelp("Directory of a persistent engine's files (its `directory` option).", valueName: "dir"))
    var db: String?

    func validate() throws {
        if db != nil, let descriptor = StandardEngines.registry.descriptor(named: engine), !descriptor.capabilities.contains(.persistent) {
            throw ValidationError("--db: engine '\(engine)' keeps its data in memory (no persistent capability); --db is for persistent engines")
        }
        guard let descriptor = StandardEngines.registry.descriptor(named: engine) else {
            throw ValidationError(EngineError.unknownEngine(name: engine, available: StandardEngines.registry.names).description)
        }
        let parsed = try parsedOptions()
        let known = Set(descriptor.options.map(\.name))
        for name in parsed.values.keys.sorted() where !known.contains(name) {
            throw ValidationError(EngineError.unknownOption(engine: engine, option: name, known: descriptor.options.map(\.name)).description)
        }
    }

    func parsedOptions() throws -> EngineOptions {
        do { return try engineOptions() } catch { throw ValidationError(error.description) }
    }

    /// The --option values, plus --db as the `directory` option.
    func engineOptions() throws(EngineError) -> EngineOptions {
        var parsed = try EngineOptions(parsing: options, engine: engine)
        if let db { parsed["directory"] = db }
        return parsed
    }

    /// Opens a fresh engine as selected.
    func open() throws(EngineError) -> any KeyValueEngine {
        let opened = try StandardEngines.registry.open(engine, options: try engineOptions())
        // The gate's self-test plants a slowdown this way (scripts/gate-selftest.sh); unset, nothing changes.
        return PlantedSlowdownEngine.wrapIfRequested(opened, environment: ProcessInfo.processInfo.environment)
    }
}
