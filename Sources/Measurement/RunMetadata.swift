// What a run was: passed in by the driver, carried into result files, merged and compared.

import Foundation

/// Describes a run. The driver fills it in; kvlab writes it into every result file.
public struct RunMetadata: Sendable, Equatable, Codable {
    /// Load (insert the records) or run (the transaction phase).
    public enum Phase: String, Sendable, Codable {
        case load, run
    }

    /// kvlab's version, e.g. `0.3.0`.
    public var kvlabVersion: String
    /// Git commit kvlab was built from, if known.
    public var gitCommit: String?
    /// Engine (or target) name, e.g. `hash`, `lsm`, `resp://127.0.0.1:6379`.
    public var engine: String
    /// Engine options as given.
    public var engineOptions: [String: String]
    /// All effective workload properties after `-P` files, `-p` overrides and flags.
    public var properties: [String: String]
    /// Driver threads (for a merged result: the sum over sources).
    public var threads: Int
    /// Target rate in operations per second over all threads; nil when unthrottled.
    public var target: Double?
    /// Wall-clock start of the measured part of the run.
    public var startTime: Date
    /// Processor cores of the machine that ran it.
    public var machineCores: Int
    public var phase: Phase
    /// Operations done during warm-up and excluded from the histograms.
    public var warmUpExcludedOperations: UInt64
    /// For a merged result: one description per source result (file names where known); empty otherwise.
    public var mergedFrom: [String]
    /// The process's memory during the run, sampled: peak allocator-allocated bytes, peak
    /// resident set, and the allocator ("jemalloc-5.3.0" or "libc"). Nil when not measured;
    /// for a merged result, the largest peak among the sources.
    public var memory: MemoryPeaks?

    /// Peak memory of a run.
    public struct MemoryPeaks: Sendable, Equatable, Codable {
        public var allocator: String
        public var peakAllocatedBytes: Int
        public var peakResidentBytes: Int

        public init(allocator: String, peakAllocatedBytes: Int, peakResidentBytes: Int) {
            self.allocator = allocator
            self.peakAllocatedBytes = peakAllocatedBytes
            self.peakResidentBytes = peakResidentBytes
        }
    }

    /// Creates run metadata.
    public init(kvlabVersion: String, gitCommit: String? = nil, engine: String, engineOptions: [String: String] = [:],
                properties: [String: String] = [:], threads: Int, target: Double? = nil, startTime: Date,
                machineCores: Int, phase: Phase, warmUpExcludedOperations: UInt64 = 0, mergedFrom: [String] = []) {
        self.kvlabVersion = kvlabVersion
        self.gitCommit = gitCommit
        self.engine = engine
        self.engineOptions = engineOptions
        self.properties = properties
        self.threads = threads
        self.target = target
        self.startTime = startTime
        self.machineCores = machineCores
        self.phase = phase
        self.warmUpExcludedOperations = warmUpExcludedOperations
        self.mergedFrom = mergedFrom
    }

    enum CodingKeys: String, CodingKey {
        case kvlabVersion, gitCommit, engine, engineOptions, properties, threads, target, startTime, machineCores,
             phase, warmUpExcludedOperations, mergedFrom, memory
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kvlabVersion = try c.decode(String.self, forKey: .kvlabVersion)
        gitCommit = try c.decodeIfPresent(String.self, forKey: .gitCommit)
        engine = try c.decode(String.self, forKey: .engine)
        engineOptions = try c.decodeIfPresent([String: String].self, forKey: .engineOptions) ?? [:]
        properties = try c.decodeIfPresent([String: String].self, forKey: .properties) ?? [:]
        threads = try c.decode(Int.self, forKey: .threads)
        target = try c.decodeIfPresent(Double.self, forKey: .target)
        let startText = try c.decode(String.self, forKey: .startTime)
        guard let start = Self.parseISO8601(startText) else {
            throw DecodingError.dataCorruptedError(forKey: .startTime, in: c,
                                                   debugDescription: "'\(startText)' is not an ISO-8601 date-time")
        }
        startTime = start
        machineCores = try c.decode(Int.self, forKey: .machineCores)
        phase = try c.decode(Phase.self, forKey: .phase)
        warmUpExcludedOperations = try c.decodeIfPresent(UInt64.self, forKey: .warmUpExcludedOperations) ?? 0
        mergedFrom = try c.decodeIfPresent([String].self, forKey: .mergedFrom) ?? []
        memory = try c.decodeIfPresent(MemoryPeaks.self, forKey: .memory)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kvlabVersion, forKey: .kvlabVersion)
        try c.encodeIfPresent(gitCommit, forKey: .gitCommit)
        try c.encode(engine, forKey: .engine)
        try c.encode(engineOptions, forKey: .engineOptions)
        try c.encode(properties, forKey: .properties)
        try c.encode(threads, forKey: .threads)
        try c.encodeIfPresent(target, forKey: .target)
        try c.encode(Self.formatISO8601(startTime), forKey: .startTime)
        try c.encode(machineCores, forKey: .machineCores)
        try c.encode(phase, forKey: .phase)
        try c.encode(warmUpExcludedOperations, forKey: .warmUpExcludedOperations)
        try c.encode(mergedFrom, forKey: .mergedFrom)
        try c.encodeIfPresent(memory, forKey: .memory)
    }

    /// `2026-04-01T12:00:00.123Z`: UTC with milliseconds.
    public static func formatISO8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    static func parseISO8601(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
