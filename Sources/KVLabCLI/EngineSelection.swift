// The options every engine-using subcommand shares: --engine and --option name=value.

import ArgumentParser
import KVCore
import KVEngines

struct EngineSelection: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Engine to use (see `kvlab engines`).", valueName: "name"))
    var engine: String = StandardEngines.defaultEngine

    @Option(name: .customLong("option"), help: ArgumentHelp("An engine option, repeatable (see `kvlab engines`).", valueName: "name=value"))
    var options: [String] = []

    func validate() throws {
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
        do { return try EngineOptions(parsing: options, engine: engine) } catch { throw ValidationError(error.description) }
    }

    /// Opens a fresh engine as selected.
    func open() throws(EngineError) -> any KeyValueEngine {
        let parsed = try EngineOptions(parsing: options, engine: engine)
        return try StandardEngines.registry.open(engine, options: parsed)
    }
}
