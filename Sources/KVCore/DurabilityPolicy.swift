// When acknowledged writes reach the operating system and stable storage: one policy for every persistent engine.

/// When a persistent engine's writes reach the operating system and stable storage.
///
/// Every persistent engine (`lsm`, `btree`) takes the same policy, by the same option names:
/// `durability=always|periodic|buffered` and `sync-interval=<milliseconds>` (periodic only).
///
/// | policy | a write returns after | a process crash loses | a machine crash loses |
/// |---|---|---|---|
/// | `always` | fsync (shared by concurrent writers: group commit) | nothing | nothing |
/// | `periodic` (default) | write(2): the bytes are in the OS page cache | nothing | at most the interval |
/// | `buffered` | the write is in the engine's user-space buffer | acknowledged writes | acknowledged writes |
///
/// A write that passes `WriteOptions.sync == true` is fsynced before it returns under every policy.
public enum DurabilityPolicy: Sendable, Hashable, CustomStringConvertible {
    /// Every write is fsynced before it returns; concurrent writers share one fsync (group commit).
    case always
    /// Every write reaches the OS (write(2)) before it returns; a background timer fsyncs
    /// every `intervalMilliseconds`. Redis's `appendfsync everysec` is `periodic(1000)`.
    case periodic(intervalMilliseconds: Int)
    /// Writes may stay in the engine's user-space buffers after they return: the fastest, and it
    /// **loses acknowledged writes when the process is killed**. Only for measurements.
    case buffered

    /// The default: `periodic` with a one-second interval (Redis's `appendfsync everysec`).
    public static let `default` = DurabilityPolicy.periodic(intervalMilliseconds: 1000)

    /// The option values, as `--option durability=...` takes them.
    public static let optionValues = "always, periodic or buffered"

    /// The policy's option value (`always`, `periodic`, `buffered`).
    public var name: String {
        switch self {
        case .always: "always"
        case .periodic: "periodic"
        case .buffered: "buffered"
        }
    }

    public var description: String {
        switch self {
        case .periodic(let ms): "periodic (fsync every \(ms) ms)"
        default: name
        }
    }

    /// True when a write must be fsynced before it returns.
    public var syncsEveryWrite: Bool { self == .always }

    /// True when every acknowledged write has at least reached the OS (survives a process crash).
    public var survivesProcessCrash: Bool { self != .buffered }
}

extension EngineOptions {
    /// Option descriptors for the durability policy, shared by every persistent engine.
    public static let durabilityOptionDescriptors: [EngineOptionDescriptor] = [
        EngineOptionDescriptor(
            name: "durability",
            help: "always: fsync before every write returns (group commit); periodic: every write reaches the OS before it returns, fsync every sync-interval (a process crash loses nothing); buffered: writes may stay in user space (a process crash LOSES acknowledged writes)",
            defaultValue: "periodic"),
        EngineOptionDescriptor(name: "sync-interval", help: "milliseconds between background fsyncs under durability=periodic", defaultValue: "1000"),
    ]

    /// The durability policy named by the `durability` and `sync-interval` options.
    /// - Throws: `EngineError.invalidOption` for an unknown policy or a bad interval, naming the option.
    ///   The old `sync` option is refused with the name of its replacement.
    public func durabilityPolicy(engine: String) throws(EngineError) -> DurabilityPolicy {
        if let old = values["sync"] {
            throw .invalidOption(engine: engine, option: "sync", value: old,
                                 expected: "no such option any more: use durability=\(DurabilityPolicy.optionValues)")
        }
        let interval = try integer("sync-interval", engine: engine, default: 1000, range: 1...3_600_000)
        let text = values["durability"] ?? "periodic"
        switch text.lowercased() {
        case "always": return .always
        case "periodic": return .periodic(intervalMilliseconds: interval)
        case "buffered": return .buffered
        default: throw .invalidOption(engine: engine, option: "durability", value: text, expected: DurabilityPolicy.optionValues)
        }
    }
}
