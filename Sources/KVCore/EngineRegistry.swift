// Maps an engine name plus options to an opened engine, and describes what each engine offers.

/// One option an engine accepts, for help text and validation.
public struct EngineOptionDescriptor: Sendable, Hashable {
    public var name: String
    public var help: String
    public var defaultValue: String

    public init(name: String, help: String, defaultValue: String) {
        self.name = name
        self.help = help
        self.defaultValue = defaultValue
    }
}

/// A registered engine kind.
public struct EngineDescriptor: Sendable {
    public typealias Factory = @Sendable (EngineOptions) throws(EngineError) -> any KeyValueEngine

    public var name: String
    public var summary: String
    public var capabilities: EngineCapabilities
    public var options: [EngineOptionDescriptor]
    public var factory: Factory

    public init(name: String, summary: String, capabilities: EngineCapabilities,
                options: [EngineOptionDescriptor] = [], factory: @escaping Factory) {
        self.name = name
        self.summary = summary
        self.capabilities = capabilities
        self.options = options
        self.factory = factory
    }
}

/// The engines known by name. `KVEngines.standardRegistry` holds the built-in ones.
public struct EngineRegistry: Sendable {
    public private(set) var descriptors: [EngineDescriptor] = []

    public init(_ descriptors: [EngineDescriptor] = []) {
        for d in descriptors { register(d) }
    }

    /// Adds (or replaces) an engine kind.
    public mutating func register(_ descriptor: EngineDescriptor) {
        descriptors.removeAll { $0.name == descriptor.name }
        descriptors.append(descriptor)
    }

    public var names: [String] { descriptors.map(\.name) }

    public func descriptor(named name: String) -> EngineDescriptor? {
        descriptors.first { $0.name == name }
    }

    /// Opens the engine `name` with `options`.
    /// - Throws: `EngineError.unknownEngine`, `.unknownOption`, or the factory's own error.
    public func open(_ name: String, options: EngineOptions = EngineOptions()) throws(EngineError) -> any KeyValueEngine {
        guard let descriptor = descriptor(named: name) else {
            throw .unknownEngine(name: name, available: names)
        }
        let known = Set(descriptor.options.map(\.name))
        for option in options.values.keys.sorted() where !known.contains(option) {
            // `sync` was the persistent engines' option before the shared durability policy.
            if option == "sync", known.contains("durability") { _ = try options.durabilityPolicy(engine: name) }
            throw .unknownOption(engine: name, option: option, known: descriptor.options.map(\.name))
        }
        return try descriptor.factory(options)
    }
}
