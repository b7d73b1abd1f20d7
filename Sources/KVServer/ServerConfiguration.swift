// The server's settings, with Redis's names and defaults where Redis has them.

import RESP

/// How a `RESPServer` listens and what it allows.
public struct ServerConfiguration: Sendable {
    /// Address to bind (`bind`); loopback by default.
    public var host: String
    /// TCP port (`port`); 0 picks a free one.
    public var port: Int
    /// Event loop threads.
    public var threads: Int
    /// Password every client must give with AUTH or HELLO (`requirepass`); nil = none.
    public var requirePassword: String?
    /// Most clients connected at once (`maxclients`).
    public var maxClients: Int
    /// Seconds a client may stay idle before it is disconnected (`timeout`); 0 = never.
    public var idleTimeoutSeconds: Int
    /// Parser limits: `proto-max-bulk-len`, array length, inline size, `client-query-buffer-limit`.
    public var limits: RESPLimits
    /// The engine name shown by INFO.
    public var engineName: String
    /// appendfsync and the engine's durability policy (nil: an in-memory engine); see `ServerDurability`.
    public var durability: ServerDurability? = nil
    /// The run-time disk-fault switch (`kvlab serve --disk-faults`); nil: DEBUG DISKFAULT is refused.
    public var diskFaults: ServerDiskFaults? = nil
    /// `protected-mode`: while on and no password is set, clients from addresses other than
    /// loopback get Redis's `-DENIED` reply and are disconnected (on by default, as in Redis).
    public var protectedMode: Bool
    /// `client-output-buffer-limit` for normal clients.
    public var outputBufferLimit: OutputBufferLimit
    /// Replication: replicaof, backlog, ack mode, min-replicas (ReplicationConfiguration.swift).
    public var replication = ReplicationConfiguration()

    public init(host: String = "127.0.0.1", port: Int = 6379, threads: Int = 1, requirePassword: String? = nil,
                maxClients: Int = 10000, idleTimeoutSeconds: Int = 0, limits: RESPLimits = .default, engineName: String = "",
                protectedMode: Bool = true, outputBufferLimit: OutputBufferLimit = .none) {
        self.host = host
        self.port = port
        self.threads = threads
        self.requirePassword = requirePassword
        self.maxClients = maxClients
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.limits = limits
        self.engineName = engineName
        self.protectedMode = protectedMode
        self.outputBufferLimit = outputBufferLimit
    }
}

/// Redis's `client-output-buffer-limit normal <hard> <soft> <soft-seconds>`: a client whose
/// pending output reaches `hardBytes`, or stays at or above `softBytes` for `softSeconds`, is
/// disconnected. 0 disables a limit.
///
/// The default is Redis's for normal clients, `0 0 0` (no limit). It is safe here because the
/// server stops reading and executing a client's commands while that client's socket is not
/// writable: a client that pipelines requests and never reads holds at most one command's
/// reply (plus the socket buffers), not the replies of everything it sent — the case where
/// Redis, which keeps executing, grows without bound. A non-zero default would, as in Redis,
/// disconnect legitimate clients that fetch one large value or a large range.
public struct OutputBufferLimit: Sendable, Hashable, CustomStringConvertible {
    public var hardBytes: Int
    public var softBytes: Int
    public var softSeconds: Int

    public init(hardBytes: Int, softBytes: Int, softSeconds: Int) {
        self.hardBytes = hardBytes
        self.softBytes = softBytes
        self.softSeconds = softSeconds
    }

    /// No limit (Redis's default for normal clients).
    public static let none = OutputBufferLimit(hardBytes: 0, softBytes: 0, softSeconds: 0)

    public var isEnabled: Bool { hardBytes > 0 || softBytes > 0 }

    /// As CONFIG GET shows it: `normal <hard> <soft> <seconds>`, in bytes.
    public var description: String { "normal \(hardBytes) \(softBytes) \(softSeconds)" }

    /// Parses Redis's form: `[normal] <hard> <soft> <soft-seconds>`, sizes with Redis's units
    /// (`b`, `k` = 1000, `kb` = 1024, `m`, `mb`, `g`, `gb`; case-insensitive).
    /// - Throws: `ServerConfigurationError.invalidOutputBufferLimit` naming the text and what was expected.
    public init(parsing text: String) throws(ServerConfigurationError) {
        var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        if let first = words.first, first.lowercased() == "normal" { words.removeFirst() }
        else if let first = words.first, first.first?.isLetter == true {
            throw .invalidOutputBufferLimit(text: text, reason: "only the 'normal' class is supported, got '\(first)'")
        }
        guard words.count == 3 else {
            throw .invalidOutputBufferLimit(text: text, reason: "expected 'normal <hard> <soft> <soft-seconds>'")
        }
        guard let hard = Self.memory(words[0]) else { throw .invalidOutputBufferLimit(text: text, reason: "hard limit '\(words[0])' is not a size") }
        guard let soft = Self.memory(words[1]) else { throw .invalidOutputBufferLimit(text: text, reason: "soft limit '\(words[1])' is not a size") }
        guard let seconds = Int(words[2]), seconds >= 0 else {
            throw .invalidOutputBufferLimit(text: text, reason: "soft seconds '\(words[2])' is not a non-negative integer")
        }
        // The server computes with milliseconds and NIO time amounts (nanoseconds in Int64): a
        // larger value would overflow (a trap) when a client reaches the soft limit.
        guard seconds <= Int(Int32.max) else {
            throw .invalidOutputBufferLimit(text: text, reason: "soft seconds '\(words[2])' is over \(Int32.max)")
        }
        self.init(hardBytes: hard, softBytes: soft, softSeconds: seconds)
    }

    /// A size in Redis's units (`1mb`, `64kb`, `65536`), nil when it is not one.
    public static func memorySize(_ word: String) -> Int? { memory(word) }

    /// Redis's `memtoull`: digits and an optional unit.
    static func memory(_ word: String) -> Int? {
        let lower = word.lowercased()
        let digits = lower.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        let units: [String: Int] = ["": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1_000_000, "mb": 1 << 20, "g": 1_000_000_000, "gb": 1 << 30]
        guard let unit = units[String(lower.dropFirst(digits.count))] else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow ? nil : product
    }
}

/// A setting that cannot be used, naming the setting, the text and what was expected.
public enum ServerConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidOutputBufferLimit(text: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidOutputBufferLimit(text, reason): return "client-output-buffer-limit '\(text)': \(reason)"
        }
    }
}
